import { createServer } from "node:net";
import { beforeAll, describe, expect, inject, test } from "vitest";
import type { KubeClient } from "../../src/kube/client.ts";
import { cli } from "../integration/support/cli.ts";
import { adminClient, applyFile, newNamespace } from "../integration/support/cluster.ts";

/** A loopback port nothing listens on: taken, then released. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("kubectl-fledge check with every part there", () => {
  let client: KubeClient;
  /** A namespace of its own for httproute, which judges the Rollouts' routes it finds there. */
  let ns: string;
  beforeAll(async () => {
    client = await adminClient();
    await applyFile(client, "deploy/base/namespace.yaml");
    await applyFile(client, "deploy/base/rbac.yaml");
    ns = await newNamespace(client, "cli-check");
  });

  test("passes every item: CRDs, SMI versions, the Gateway API, RBAC, TrafficMetrics and Prometheus", async () => {
    const run = await cli(["check", "-n", ns, "--prometheus-address", inject("prometheusUrl")]);
    // The Gateway API is there once the tier's control plane installs its CRDs; until then
    // httproute passes over it, as no Rollout in the namespace uses it.
    const gateway = await client.get(
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/httproutes.gateway.networking.k8s.io",
    );
    expect(
      run.stdout
        .split("\n")
        .filter(Boolean)
        .map((line) => line.slice(0, 22).trim()),
    ).toEqual([
      "ok    crd",
      "ok    templates",
      "ok    trafficsplit",
      "ok    httproutegroup",
      gateway.ok ? "ok    httproute" : "skip  httproute",
      "ok    rbac",
      "ok    trafficmetrics",
      "ok    prometheus",
    ]);
    expect(run.stdout).toMatch(
      /^ok {4}trafficmetrics +APIService v1alpha1\.metrics\.smi-spec\.io is Available$/m,
    );
    expect(run.stdout).toContain(
      `ok    prometheus      ${inject("prometheusUrl")} answers queries`,
    );
    expect(run.code).toBe(0);
  });

  test("a Prometheus that does not answer fails its item, and the exit code", async () => {
    const address = `http://127.0.0.1:${await closedPort()}`;
    const run = await cli(["check", "--prometheus-address", address]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(
      new RegExp(`^fail {2}prometheus +${address} does not answer: connect ECONNREFUSED`, "m"),
    );
    expect(run.stdout).toMatch(/^ok {4}trafficmetrics /m);
  });
});
