// What a person sees of Fledge's kinds through the real kubectl of the control plane's release:
// names that do not collide with Argo Rollouts', the fledge category, the printer columns, and
// `kubectl explain` with a description for every field it is asked about.

import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { beforeAll, describe, expect, inject, test } from "vitest";
import { parseAllDocuments } from "yaml";
import { ensureBinaries } from "../harness/binaries.ts";
import { eventually, newNamespace, ok, repoRoot } from "./support/cluster.ts";
import { Podinfo, withController } from "./support/rollouts.ts";

const world = withController();
let path = "";
beforeAll(async () => {
  path = (await ensureBinaries()).kubectl;
});

type Run = { code: number; stdout: string; stderr: string };
const kubectl = (...args: string[]): Promise<Run> =>
  new Promise((resolve) => {
    execFile(
      path,
      ["--kubeconfig", inject("kubeconfig"), ...args],
      { timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, stdout, stderr }),
    );
  });

/** One row of `kubectl get` as column name -> value, read by the header's column starts. */
function rowOf(table: string, name: string): Record<string, string> {
  const [header = "", ...rows] = table.trimEnd().split("\n");
  const row = rows.find((r) => r.startsWith(`${name} `)) ?? "";
  const starts = [...header.matchAll(/\S+/g)].map((m) => m.index);
  return Object.fromEntries(
    starts.map((start, i) => [
      header.slice(start).split(/\s/)[0],
      row.slice(start, starts[i + 1]).trim(),
    ]),
  );
}

describe("kubectl", () => {
  test("finds Fledge's kinds by fro, fat, fcat and the fledge category, never by Argo Rollouts' ro", async () => {
    const resources = await kubectl("api-resources", "--api-group=fledge.dev", "-o", "wide");
    expect(resources.code).toBe(0);
    for (const [name, short] of [
      ["rollouts", "fro"],
      ["analysistemplates", "fat"],
      ["clusteranalysistemplates", "fcat"],
    ]) {
      expect(resources.stdout).toMatch(
        new RegExp(`^${name} +${short} +fledge.dev/.*\\bfledge\\b`, "m"),
      );
    }

    const { p } = await Podinfo.healthy(world.client, "kubectl", [
      { setWeight: 20 },
      { pause: {} },
    ]);
    const byCategory = await kubectl("get", "fledge", "-n", p.ns, "-o", "name");
    expect(byCategory).toMatchObject({ code: 0, stdout: "rollout.fledge.dev/podinfo\n" });
    const argoName = await kubectl("get", "ro", "-n", p.ns);
    expect(argoName.code).not.toBe(0);
    expect(argoName.stderr).toContain('the server doesn\'t have a resource type "ro"');

    // The Step column counts as people do, the way the plugin and Events say it.
    const atRest = await kubectl("get", "fro", "-n", p.ns);
    expect(atRest.code).toBe(0);
    expect(rowOf(atRest.stdout, "podinfo")).toMatchObject({ PHASE: "Healthy", STEP: "-" });
    await p.newRevision("2");
    await p.phase("Paused");
    const paused = rowOf((await kubectl("get", "fro", "-n", p.ns)).stdout, "podinfo");
    expect(paused).toMatchObject({ PHASE: "Paused", WEIGHT: "20", STEP: "2/2" });
  });

  test("deploy/sharded renders three replicas of the controller with the shards' flags, and the apiserver takes it", async () => {
    const rendered = await kubectl("kustomize", join(repoRoot, "deploy/sharded"));
    expect(rendered.code).toBe(0);
    const deployment = parseAllDocuments(rendered.stdout)
      .map((d) => d.toJS() as { kind: string; spec?: Record<string, unknown> })
      .find((d) => d.kind === "Deployment");
    expect(deployment?.spec).toMatchObject({
      replicas: 3,
      strategy: { type: "RollingUpdate" },
      template: {
        spec: {
          containers: [
            { args: ["--metrics-port=8080", "--lease-namespace=$(POD_NAMESPACE)", "--shards=12"] },
          ],
        },
      },
    });
    const applied = await kubectl(
      "apply",
      "-k",
      join(repoRoot, "deploy/sharded"),
      "--dry-run=server",
    );
    expect(applied).toMatchObject({ code: 0 });
    expect(applied.stdout).toContain("deployment.apps/fledge-controller created (server dry run)");
  });

  test("the README's patch adds the health check to argocd-cm and keeps every other key", async () => {
    const readme = readFileSync(join(repoRoot, "README.md"), "utf8");
    const command = /```sh\n(kubectl create configmap argocd-cm[^`]*)```/.exec(readme)?.[1];
    expect(command).toBeDefined();
    const ns = await newNamespace(world.client, "argocd");
    // Argo CD's own argocd-cm as its install manifest applies it, with a setting of the user's.
    ok(
      await world.client.create(`/api/v1/namespaces/${ns}/configmaps`, {
        metadata: { name: "argocd-cm", labels: { "app.kubernetes.io/name": "argocd-cm" } },
        data: { "timeout.reconciliation": "180s" },
      }),
      "argocd-cm",
    );
    const script = (command ?? "").replaceAll("-n argocd", `-n ${ns}`);
    for (const round of [1, 2]) {
      const applied = await new Promise<Run>((resolve) =>
        execFile(
          "bash",
          ["-euo", "pipefail", "-c", script],
          {
            cwd: repoRoot,
            env: {
              ...process.env,
              PATH: `${dirname(path)}:${process.env.PATH}`,
              KUBECONFIG: inject("kubeconfig"),
            },
          },
          (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
        ),
      );
      expect(applied, `round ${round}`).toMatchObject({ code: 0 });
    }
    const cm = ok(
      await world.client.get<{
        metadata: { labels: Record<string, string> };
        data: Record<string, string>;
      }>(`/api/v1/namespaces/${ns}/configmaps/argocd-cm`),
      "argocd-cm",
    );
    expect(cm.metadata.labels).toMatchObject({
      "app.kubernetes.io/name": "argocd-cm",
      "app.kubernetes.io/part-of": "argocd",
    });
    expect(cm.data).toEqual({
      "timeout.reconciliation": "180s",
      "resource.customizations.health.fledge.dev_Rollout": readFileSync(
        join(repoRoot, "deploy/argocd-health.lua"),
        "utf8",
      ),
    });
  });

  test("explain describes every field it is asked about", async () => {
    for (const field of [
      "rollouts",
      "analysistemplates",
      "clusteranalysistemplates",
      "rollouts.spec.steps",
      "rollouts.spec.analysis.metrics",
      "rollouts.status",
      "analysistemplates.spec.metrics",
    ]) {
      // The apiserver publishes a new CRD's OpenAPI shortly after it is established.
      const explained = await eventually(`kubectl explain ${field}`, async () => {
        const r = await kubectl("explain", field);
        return r.code === 0 ? r.stdout : undefined;
      });
      expect(explained, field).not.toContain("<empty>");
      expect(explained, field).not.toContain("<no description>");
      expect(explained, field).toMatch(/DESCRIPTION:\n\s+\S/);
    }
  });
});
