// The built-in Prometheus queries, asked of the tier's real Prometheus about a Deployment whose
// failures begin inside the window: the series counting them first appears there, and a check
// must count every failure it holds, from 0. Without the controller, so that each query can be
// asked at the instants that matter (each scrape of the new series) rather than when a check
// happens to run.

import { beforeAll, describe, expect, test } from "vitest";
import { type BuiltinMetric, builtinQuery, type Mesh } from "../../src/analysis/promql.ts";
import { BUILTIN_METRICS } from "../../src/api/rollout.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import {
  adminClient,
  deploymentManifest,
  eventually,
  newNamespace,
  ok,
  paths,
} from "../integration/support/cluster.ts";
import { promSamples, promValue } from "./support/simulator.ts";

const WINDOW_MS = 5_000;
const WINDOW = "5s";

let client: KubeClient;
let ns: string;

/** Each mesh's series of the Deployment's requests, and the matchers of the failed and the other ones, as the meshes name them. */
const SERIES: Record<Mesh, { all: (ns: string) => string; failed: string; passed: string }> = {
  linkerd: {
    all: (ns) => `response_total{namespace="${ns}",deployment="podinfo",direction="inbound"}`,
    failed: `classification="failure"`,
    passed: `classification!="failure"`,
  },
  envoy: {
    all: (ns) =>
      `istio_requests_total{reporter="destination",destination_workload_namespace="${ns}",destination_workload="podinfo"}`,
    failed: `response_code=~"5.."`,
    passed: `response_code!~"5.."`,
  },
  osm: {
    all: (ns) =>
      `envoy_cluster_upstream_rq_xx{source_namespace="${ns}",source_workload_name="podinfo"}`,
    failed: `envoy_response_code_class="5"`,
    passed: `envoy_response_code_class!="5"`,
  },
};
const MESHES = Object.keys(SERIES) as Mesh[];

/** The samples of the one series of a mesh's `kind`, over the last ten minutes, at whole milliseconds. */
async function samples(mesh: Mesh, kind: "failed" | "passed") {
  const selector = SERIES[mesh].all(ns).replace(/\}$/, `,${SERIES[mesh][kind]}}`);
  const series = await promSamples(selector, "10m");
  if (series.length > 1) throw new Error(`${selector} matches ${series.length} series`);
  return (series[0] ?? []).map((s) => ({ at: Math.round(s.at), value: s.value }));
}

/** Waits until every mesh's series of `kind` has been scraped over more than a window. */
function spanningAWindow(kind: "failed" | "passed") {
  return eventually(
    `every mesh's ${kind} series scraped over more than ${WINDOW}`,
    async () => {
      for (const mesh of MESHES) {
        const series = await samples(mesh, kind);
        const first = series[0];
        const last = series[series.length - 1];
        if (!first || !last || last.at - first.at <= WINDOW_MS) return undefined;
      }
      return true;
    },
    60_000,
  );
}

/**
 * The samples of a series taken before a window had passed since its first: until then, it has
 * no sample at the window's start, so each request it counted fell inside the window.
 */
async function young(mesh: Mesh, kind: "failed" | "passed") {
  const series = await samples(mesh, kind);
  const appeared = series[0]?.at ?? Number.NaN;
  return series.filter((s) => s.at < appeared + WINDOW_MS);
}

const queries = (mesh: Mesh, metric: BuiltinMetric) =>
  builtinQuery(mesh, metric, {
    namespace: ns,
    target: "podinfo",
    canary: "podinfo-canary",
    interval: WINDOW,
  });

/** What a check at `time` reads: the success rate, its request count, and the failures they imply. */
async function check(mesh: Mesh, time: number) {
  const q = queries(mesh, "request-success-rate");
  const [rate, requests] = await Promise.all([
    promValue(q.value, time),
    promValue(q.requests, time),
  ]);
  if (rate === undefined || requests === undefined)
    throw new Error(`${mesh} at ${time}: no data (rate ${rate}, requests ${requests})`);
  return { rate, requests, failures: requests * (1 - rate / 100) };
}

beforeAll(async () => {
  client = await adminClient();
  ns = await newNamespace(client, "queries");
  ok(await client.create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 1)), "podinfo");
  ok(
    await client.create(paths.services(ns), {
      apiVersion: "v1",
      kind: "Service",
      metadata: { name: "podinfo", namespace: ns },
      spec: { selector: { app: "podinfo" }, ports: [{ port: 9898 }] },
    }),
    "service",
  );
  ok(
    await client.create(paths.splits(ns), {
      apiVersion: "split.smi-spec.io/v1alpha4",
      kind: "TrafficSplit",
      metadata: { name: "podinfo", namespace: ns },
      spec: { service: "podinfo", backends: [{ service: "podinfo", weight: 100 }] },
    }),
    "split",
  );
  // Serving without failures for more than a window, then failing 10% of requests from now on.
  await spanningAWindow("passed");
  ok(
    await client.patch(`${paths.deployments(ns)}/podinfo`, {
      spec: {
        template: { metadata: { annotations: { "fledge.dev/sim-success-rate": "0.9" } } },
      },
    }),
    "failing 10%",
  );
  await spanningAWindow("failed");
}, 150_000);

describe.each(MESHES)("the built-in queries on %s's metrics", (mesh) => {
  test("count every failure of a series that first appears inside the window, from 0", async () => {
    const failed = await young(mesh, "failed");
    expect(failed.length).toBeGreaterThanOrEqual(4);
    for (const sample of failed) {
      const read = await check(mesh, sample.at);
      expect(read.rate, `the success rate with ${sample.value} failures`).toBeLessThan(100);
      expect(read.failures).toBeCloseTo(sample.value, 6);
      expect(read.requests).toBeGreaterThan(sample.value);
    }
  });

  test("count the requests of a series that first appears inside the window, from 0", async () => {
    const passed = await young(mesh, "passed");
    expect(passed.length).toBeGreaterThanOrEqual(4);
    for (const sample of passed) {
      const read = await check(mesh, sample.at);
      expect(read.rate).toBe(100);
      expect(read.requests).toBeCloseTo(sample.value, 6);
    }
  });

  test.each(BUILTIN_METRICS)("%s is one number where the failures begin", async (metric) => {
    const at = (await samples(mesh, "failed"))[0]?.at ?? Number.NaN;
    const q = queries(mesh, metric);
    expect(await promValue(q.value, at)).toBeGreaterThan(0);
    expect(await promValue(q.requests, at)).toBeGreaterThan(0);
  });
});
