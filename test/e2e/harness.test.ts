// The e2e tier's own parts, without the controller: the simulator follows TrafficSplits, its
// failures reach the real Prometheus in Linkerd's and Istio's shapes, TrafficMetrics answers
// through the apiserver, and HTTPRouteGroup matches route only the requests that match.

import { spawn } from "node:child_process";
import { join } from "node:path";
import { beforeAll, describe, expect, inject, test } from "vitest";
import { parseQuantity } from "../../src/api/quantity.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { startPrometheus } from "../harness/prometheus.ts";
import {
  adminClient,
  deploymentManifest,
  eventually,
  newNamespace,
  ok,
  paths,
} from "../integration/support/cluster.ts";
import { promValue, requestsBy } from "./support/simulator.ts";

let client: KubeClient;

const service = (ns: string, name: string, app: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: ns },
  spec: { selector: { app }, ports: [{ name: "http", port: 9898, targetPort: 9898 }] },
});

type Backend = { service: string; weight: number | string };

const split = (
  ns: string,
  name: string,
  apex: string,
  backends: Backend[],
  version = "v1alpha4",
  routeGroup?: string,
) => ({
  apiVersion: `split.smi-spec.io/${version}`,
  kind: "TrafficSplit",
  metadata: { name, namespace: ns },
  spec: {
    service: apex,
    backends,
    ...(routeGroup ? { matches: [{ kind: "HTTPRouteGroup", name: routeGroup }] } : {}),
  },
});

/** A namespace with Deployments (name -> pod annotations), Services (name -> app) and objects. */
async function scenario(
  prefix: string,
  deployments: Record<string, Record<string, string>>,
  services: Record<string, string>,
  objects: (ns: string) => { path: string; body: unknown }[],
): Promise<string> {
  const ns = await newNamespace(client, prefix);
  for (const [name, annotations] of Object.entries(deployments)) {
    ok(
      await client.create(paths.deployments(ns), deploymentManifest(ns, name, 1, annotations)),
      `deployment ${name}`,
    );
  }
  for (const [name, app] of Object.entries(services)) {
    ok(await client.create(paths.services(ns), service(ns, name, app)), `service ${name}`);
  }
  for (const { path, body } of objects(ns)) ok(await client.create(path, body), path);
  return ns;
}

const splits = (ns: string, version: string) =>
  `/apis/split.smi-spec.io/${version}/namespaces/${ns}/trafficsplits`;

/** Waits until the namespace has seen `more` requests since the call, and returns them all. */
async function requestsAfter(ns: string, more: number, ...labels: string[]) {
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const before = await requestsBy(ns, ...labels);
  const after = await eventually(
    `${more} requests in ${ns}`,
    async () => {
      const now = await requestsBy(ns, ...labels);
      return total(now) - total(before) >= more ? now : undefined;
    },
    60_000,
  );
  return new Map([...after].map(([key, n]) => [key, n - (before.get(key) ?? 0)]));
}

const namespaces: Record<string, string> = {};

beforeAll(async () => {
  client = await adminClient();
  // All scenarios start together, so their traffic accrues while the tests before them run.
  namespaces.weights = await scenario(
    "sim-weights",
    { "web-v1": {}, "web-v2": {} },
    { web: "web-v1", "web-v1": "web-v1", "web-v2": "web-v2" },
    // v1alpha1, with weights as quantities: the simulator reads every served version.
    (ns) => [
      {
        path: splits(ns, "v1alpha1"),
        body: split(
          ns,
          "web",
          "web",
          [
            { service: "web-v1", weight: "800m" },
            { service: "web-v2", weight: "200m" },
          ],
          "v1alpha1",
        ),
      },
    ],
  );
  namespaces.flaky = await scenario(
    "sim-flaky",
    {
      flaky: {
        "fledge.dev/sim-success-rate": "0.9",
        "fledge.dev/sim-latency-ms": "p50=20,p99=200",
      },
    },
    { flaky: "flaky" },
    (ns) => [
      {
        path: splits(ns, "v1alpha4"),
        body: split(ns, "flaky", "flaky", [{ service: "flaky", weight: 100 }]),
      },
    ],
  );
  namespaces.ab = await scenario(
    "sim-ab",
    { "web-v1": {}, "web-v2": {} },
    { web: "web-v1", "web-v1": "web-v1", "web-v2": "web-v2" },
    (ns) => [
      {
        path: `/apis/specs.smi-spec.io/v1alpha4/namespaces/${ns}/httproutegroups`,
        body: {
          apiVersion: "specs.smi-spec.io/v1alpha4",
          kind: "HTTPRouteGroup",
          metadata: { name: "web-insiders", namespace: ns },
          spec: { matches: [{ name: "insiders", headers: [{ "x-canary": "insider" }] }] },
        },
      },
      {
        path: splits(ns, "v1alpha4"),
        body: split(
          ns,
          "web-ab",
          "web",
          [
            { service: "web-v1", weight: 0 },
            { service: "web-v2", weight: 100 },
          ],
          "v1alpha4",
          "web-insiders",
        ),
      },
    ],
  );
});

describe("the traffic simulator", () => {
  test("sends a TrafficSplit's requests to the backends' Deployments by weight", async () => {
    const served = await requestsAfter(namespaces.weights ?? "", 600, "deployment");
    const v2 = served.get("web-v2") ?? 0;
    const share = v2 / ((served.get("web-v1") ?? 0) + v2);
    // 600 requests at p = 0.2: the standard deviation of the share is 1.6 points.
    expect(share).toBeGreaterThan(0.15);
    expect(share).toBeLessThan(0.25);
  });

  test("a Deployment with sim-success-rate 0.9 shows 10% failures in Prometheus", async () => {
    const ns = namespaces.flaky ?? "";
    const linkerd = `namespace="${ns}",deployment="flaky",direction="inbound"`;
    await eventually(
      "600 requests to flaky in Prometheus over 20s",
      async () =>
        ((await promValue(`sum(increase(response_total{${linkerd}}[20s]))`)) ?? 0) >= 600 ||
        undefined,
      60_000,
    );
    const failureRatio = await promValue(
      `sum(rate(response_total{${linkerd},classification="failure"}[20s])) / ` +
        `sum(rate(response_total{${linkerd}}[20s]))`,
    );
    expect(failureRatio).toBeGreaterThan(0.06);
    expect(failureRatio).toBeLessThan(0.14);
    const istio = `destination_workload_namespace="${ns}",destination_workload="flaky"`;
    const istioRatio = await promValue(
      `sum(rate(istio_requests_total{${istio},response_code=~"5.."}[20s])) / ` +
        `sum(rate(istio_requests_total{${istio}}[20s]))`,
    );
    expect(istioRatio).toBeGreaterThan(0.06);
    expect(istioRatio).toBeLessThan(0.14);
  });

  test("serves TrafficMetrics through the apiserver, as smi-metrics does", async () => {
    const ns = namespaces.flaky ?? "";
    const base = "/apis/metrics.smi-spec.io/v1alpha1";
    const resources = ok(
      await client.get<{ resources: { name: string; kind: string }[] }>(base),
      "discovery",
    );
    expect(resources.resources).toContainEqual(
      expect.objectContaining({ name: "deployments", kind: "TrafficMetrics" }),
    );

    type Doc = {
      kind: string;
      window: string;
      resource: { kind: string; name: string };
      metrics: { name: string; unit?: string; value: string | null }[];
    };
    const path = `${base}/namespaces/${ns}/deployments/flaky`;
    const doc = await eventually("TrafficMetrics with 300 requests in 10s", async () => {
      const got = ok(
        await client.request<Doc>("GET", path, undefined, undefined, { t: "10s" }),
        "get",
      );
      const count = (name: string) => Number(got.metrics.find((m) => m.name === name)?.value ?? 0);
      return count("success_count") + count("failure_count") >= 300 ? got : undefined;
    });
    expect(doc).toMatchObject({
      kind: "TrafficMetrics",
      window: "10s",
      resource: { kind: "Deployment", name: "flaky" },
    });
    const value = (name: string) => {
      const text = doc.metrics.find((m) => m.name === name)?.value;
      return text == null ? undefined : parseQuantity(text);
    };
    const success = value("success_count") ?? 0;
    const failure = value("failure_count") ?? 0;
    expect(failure / (success + failure)).toBeGreaterThan(0.05);
    expect(failure / (success + failure)).toBeLessThan(0.15);
    // Annotated p50=20 ms, p99=200 ms, measured over a few hundred requests.
    expect(value("p50_response_latency")).toBeGreaterThan(15);
    expect(value("p50_response_latency")).toBeLessThan(26);
    expect(value("p99_response_latency")).toBeGreaterThan(100);
    expect(value("p99_response_latency")).toBeLessThan(400);
    expect(doc.metrics.find((m) => m.name === "p99_response_latency")?.unit).toBe("ms");

    const list = ok(
      await client.get<{ kind: string; items: { resource: { name: string } }[] }>(
        `${base}/namespaces/${ns}/deployments`,
      ),
      "list",
    );
    expect(list.kind).toBe("TrafficMetricsList");
    expect(list.items.map((i) => i.resource.name)).toEqual(["flaky"]);
  });

  test("HTTPRouteGroup matches send matching requests to the split, the rest to the apex", async () => {
    const served = await requestsAfter(namespaces.ab ?? "", 400, "request_kind", "deployment");
    const matching = served.get("web-insiders/insiders|web-v2") ?? 0;
    const plain = served.get("plain|web-v1") ?? 0;
    expect(matching).toBeGreaterThan(50);
    expect(plain).toBeGreaterThan(150);
    // Nothing else: no matching request reached web-v1, no plain one web-v2.
    expect(matching + plain).toBe([...served.values()].reduce((a, b) => a + b, 0));
  });
});

describe("the harness's parts on their own", () => {
  test("a test's own Prometheus stops, starts again on the same port, and keeps its data", async () => {
    const prometheus = await startPrometheus({ targets: [inject("simulatorMetricsUrl")] });
    try {
      const query = async () => {
        const url = new URL("/api/v1/query", prometheus.url);
        url.searchParams.set("query", 'count(up{job="simulator"} == 1)');
        const body = (await (await fetch(url)).json()) as {
          data: { result: { value: [number, string] }[] };
        };
        return Number(body.data.result[0]?.value[1] ?? 0);
      };
      await eventually("a first scrape", async () => ((await query()) === 1 ? true : undefined));
      await prometheus.stop();
      await expect(fetch(`${prometheus.url}/-/ready`)).rejects.toThrow();
      await prometheus.start();
      const url = new URL("/api/v1/query", prometheus.url);
      // Samples from before the restart are still there.
      url.searchParams.set("query", 'count_over_time(up{job="simulator"}[5m])');
      const body = (await (await fetch(url)).json()) as {
        data: { result: { value: [number, string] }[] };
      };
      expect(Number(body.data.result[0]?.value[1])).toBeGreaterThan(0);
    } finally {
      await prometheus.close();
    }
  });

  test("the simulator runs alone from the command line, for one namespace", async () => {
    const ns = namespaces.weights ?? "";
    const child = spawn(
      process.execPath,
      [
        join(import.meta.dirname, "../harness/simulator/main.ts"),
        "--kubeconfig",
        inject("kubeconfig"),
        "--namespace",
        ns,
        "--rps",
        "100",
        "--seed",
        "1",
        // The tier's simulator serves the cluster's TrafficMetrics; a second would take it over.
        "--no-traffic-metrics",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      const metricsUrl = await eventually("the simulator's start-up line", () => {
        const m = /"metricsUrl":"([^"]+)"[^\n]*"msg":"simulator started"/.exec(output);
        return m?.[1];
      });
      const counted = await eventually("its own requests in its /metrics", async () => {
        const text = await (await fetch(metricsUrl)).text();
        const namespaces = new Set(
          [...text.matchAll(/^fledge_sim_requests_total\{namespace="([^"]+)"/gm)].map((m) => m[1]),
        );
        return namespaces.size > 0 ? namespaces : undefined;
      });
      expect([...counted]).toEqual([ns]);
    } finally {
      child.kill("SIGTERM");
    }
    expect(await exited).toBe(0);
    // The tier's simulator still serves TrafficMetrics.
    ok(await client.get("/apis/metrics.smi-spec.io/v1alpha1"), "TrafficMetrics discovery");
  });
});
