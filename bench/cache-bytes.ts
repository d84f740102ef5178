/**
 * What each Rollout costs the controller's memory: the bytes its objects take in each cache, as
 * the informers keep them (the slim views, in a Map by key), and in the metrics registry. The
 * objects are real: one app is rolled out once on the harness's control plane (so its status
 * carries a history), then its objects are copied N times under other names. Prints a table;
 * asserts nothing.
 *
 *   node --expose-gc bench/cache-bytes.ts [--n 10000]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { rolloutObject } from "../src/controller/rollout-object.ts";
import { KubeClient } from "../src/kube/client.ts";
import { deploymentView } from "../src/kube/deployment.ts";
import { serviceView } from "../src/kube/service.ts";
import { ControllerMetrics } from "../src/observability/metrics.ts";
import { splitView } from "../src/traffic/smi/router.ts";
import { startControlPlane } from "../test/harness/control-plane.ts";
import {
  deploymentManifest,
  eventually,
  ok,
  paths,
  rolloutManifest,
} from "../test/integration/support/cluster.ts";
import { controllerKubeconfig, startController } from "../test/integration/support/controller.ts";
import { markdownTable } from "./markdown-table.ts";

const { values } = parseArgs({ options: { n: { type: "string", default: "10000" } } });
const N = Number(values.n);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc");
const NS = "bytes";

/** One app's objects as the apiserver serves them, after a whole rollout. */
async function sampleApp() {
  const dir = mkdtempSync(join(tmpdir(), "fledge-bytes-"));
  const plane = await startControlPlane({});
  const admin = new KubeConfig();
  admin.loadFromFile(plane.kubeconfigPath);
  const client = new KubeClient(admin);
  const controller = startController(await controllerKubeconfig(dir, admin), dir, [
    "--lease-namespace=none",
  ]);
  try {
    ok(await client.create("/api/v1/namespaces", { metadata: { name: NS } }), "namespace");
    ok(await client.create(paths.deployments(NS), deploymentManifest(NS, "app", 1)), "deploy");
    ok(
      await client.create(
        paths.rollouts(NS),
        rolloutManifest(NS, "app", {
          targetRef: { name: "app" },
          service: { port: 80, targetPort: 9898 },
          steps: [{ setWeight: 20 }, { pause: { duration: "1s" } }, { setWeight: 60 }],
        }),
      ),
      "rollout",
    );
    type R = { status?: { phase?: string; stableRevision?: string } };
    const get = async <T>(path: string) => ok(await client.get<T>(path), path);
    const first = await eventually(
      "Healthy",
      async () => {
        const r = await get<R>(`${paths.rollouts(NS)}/app`);
        return r.status?.phase === "Healthy" ? r : undefined;
      },
      60_000,
    );
    ok(
      await client.patch(`${paths.deployments(NS)}/app`, {
        spec: { template: { metadata: { annotations: { "bench/revision": "2" } } } },
      }),
      "trigger",
    );
    await eventually(
      "promoted",
      async () => {
        const r = await get<R>(`${paths.rollouts(NS)}/app`);
        return r.status?.phase === "Healthy" &&
          r.status.stableRevision !== first.status?.stableRevision
          ? true
          : undefined;
      },
      60_000,
    );
    return {
      rollout: await get(`${paths.rollouts(NS)}/app`),
      target: await get(`${paths.deployments(NS)}/app`),
      primary: await get(`${paths.deployments(NS)}/app-primary`),
      services: await Promise.all(
        ["app", "app-primary", "app-canary"].map((s) => get(`${paths.services(NS)}/${s}`)),
      ),
      split: await get(`${paths.splits(NS)}/app`),
    };
  } finally {
    await controller.kill();
    await plane.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The raw object under the i-th app's name, as a fresh parse of the JSON a watch would bring. */
const copy = (raw: unknown, i: number) =>
  JSON.parse(JSON.stringify(raw).replaceAll('"app', `"app-${i}`).replaceAll("-app", `-app-${i}`));

function heapUsed() {
  gc?.();
  gc?.();
  return process.memoryUsage().heapUsed;
}

/** Bytes per object of a Map of N transformed copies, as an informer's cache keeps them. */
function perObject<T>(raw: unknown, transform: (raw: unknown) => T | undefined): number {
  const before = heapUsed();
  const cache = new Map<string, { value: T; resourceVersion: string }>();
  for (let i = 0; i < N; i++) {
    const value = transform(copy(raw, i));
    if (value !== undefined) cache.set(`${NS}/app-${i}`, { value, resourceVersion: String(i) });
  }
  const bytes = (heapUsed() - before) / N;
  if (cache.size !== N) throw new Error("a transform dropped the sample");
  return bytes;
}

const sample = await sampleApp();
/** The sample with status.history at the default bound: 50 entries, each a check of 3 metrics. */
const fullHistory = (() => {
  const r = structuredClone(sample.rollout) as { status: Record<string, unknown> };
  const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString();
  r.status.history = Array.from({ length: 50 }, (_, i) => ({
    at: at(i),
    revision: "5d8f7c9b6d",
    phase: "Progressing",
    step: i % 6,
    weight: 20 * (1 + (i % 3)),
    checkedAt: at(i),
    checks: ["request-success-rate", "request-duration", "error-budget"].map((name) => ({
      name,
      outcome: "Passed",
      value: 99.25 + i / 100,
    })),
  }));
  return r;
})();
const rows: [string, number][] = [
  ["Rollout (spec, status with its history)", perObject(sample.rollout, rolloutObject)],
  ["Rollout with a full history (50 checks)", perObject(fullHistory, rolloutObject)],
  ["target Deployment (whole template)", perObject(sample.target, (r) => deploymentView(r, true))],
  ["primary Deployment (slim)", perObject(sample.primary, (r) => deploymentView(r, false))],
  ...sample.services.map((s, i): [string, number] => [
    `Service ${["apex", "primary", "canary"][i]}`,
    perObject(s, serviceView),
  ]),
  ["TrafficSplit", perObject(sample.split, splitView)],
];
const metrics = new ControllerMetrics();
const before = heapUsed();
for (let i = 0; i < N; i++) {
  metrics.setPhase(NS, `app-${i}`, "Healthy");
  metrics.canaryWeight.set({ namespace: NS, name: `app-${i}` }, 0);
}
rows.push(["metrics (phase gauges, weight)", (heapUsed() - before) / N]);
const series = (await metrics.registry.getMetricsAsJSON()).reduce((n, m) => n + m.values.length, 0);
// The total counts the sample Rollout as it is, not the full-history one.
const total = rows.reduce((sum, [what, b]) => (what.includes("full history") ? sum : sum + b), 0);
rows.push(["total", total]);
const status = JSON.stringify((sample.rollout as { status?: unknown }).status).length;
process.stdout.write(
  `${markdownTable(
    ["per Rollout", "bytes"],
    rows.map(([what, bytes]) => [what, bytes.toFixed(0)]),
  )}\n\nN = ${N} (${series} metric series); the sample Rollout's status is ${status} bytes of JSON, with a full history ${JSON.stringify(fullHistory.status).length}; at 10,000 Rollouts the caches and metrics hold ${((total * 10_000) / 2 ** 20).toFixed(0)} MiB.\n`,
);
