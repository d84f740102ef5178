/**
 * What each of the controller's caches holds per Rollout, measured in this process: the objects
 * of a kind as the apiserver lists them, put through the controller's own transform and kept in a
 * Map by key as an informer keeps them, weighed as the heap's growth after a full GC.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { MANAGED_SELECTOR } from "../src/api/names.ts";
import { HISTORY_LIMIT } from "../src/controller/history.ts";
import { rolloutObject } from "../src/controller/rollout-object.ts";
import type { KubeClient } from "../src/kube/client.ts";
import { deploymentView } from "../src/kube/deployment.ts";
import { serviceView } from "../src/kube/service.ts";
import { restore } from "../src/machine/snapshot.ts";
import { splitView } from "../src/traffic/smi/router.ts";
import { ok, paths } from "../test/integration/support/cluster.ts";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

const heapAfterGc = () => {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};

/**
 * The heap bytes that `kept` objects take, each made by `transform` from one JSON text: the
 * texts exist before and after, so only what the transform keeps is weighed (a transform that
 * keeps parts of its input, as the Rollout's does with spec and status, is weighed with them).
 */
export function retainedBytes(texts: readonly string[], transform: (raw: unknown) => unknown) {
  // Once over all first, thrown away: the first calls compile code and fill V8's caches, which
  // would otherwise be weighed with the objects.
  for (const text of texts) transform(JSON.parse(text));
  const before = heapAfterGc();
  const kept = new Map<string, unknown>();
  texts.forEach((text, i) => {
    const value = transform(JSON.parse(text));
    if (value !== undefined) kept.set(`bench/object-${i}`, value);
  });
  const bytes = heapAfterGc() - before;
  // `kept` is read after the weighing, so it is alive through it.
  return { bytes, count: kept.size };
}

type Item = { metadata?: { name?: string }; status?: { machine?: unknown } };

/** The Rollout's JSON with status.history at the default bound, each entry a check. */
function withFullHistory(text: string): string {
  const r = JSON.parse(text) as { status?: Record<string, unknown> };
  const at = (i: number) => new Date(Date.UTC(2026, 0, 1, 0, i)).toISOString();
  r.status = {
    ...r.status,
    history: Array.from({ length: HISTORY_LIMIT }, (_, i) => ({
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
    })),
  };
  return JSON.stringify(r);
}

/** Bytes per Rollout of each cache (and of the machine snapshots inside the Rollouts' status). */
export async function cacheBytes(client: KubeClient, ns: string, rollouts: number) {
  // A kind's storage answers 429 "(re)initializing" for a while after its CRD is installed.
  const list = async (path: string) => {
    for (let attempt = 1; ; attempt++) {
      const result = await client.get<{ items: Item[] }>(path);
      if (result.ok || attempt === 30) return ok(result, path).items.map((i) => JSON.stringify(i));
      await new Promise((r) => setTimeout(r, 1_000));
    }
  };
  const [rolloutTexts, deploymentTexts, serviceTexts, splitTexts] = await Promise.all([
    list(paths.rollouts(ns)),
    list(paths.deployments(ns)),
    list(`${paths.services(ns)}?labelSelector=${encodeURIComponent(MANAGED_SELECTOR)}`),
    list(paths.splits(ns)),
  ]);
  // The controller keeps a target's whole template, a primary's slimmed: the bench's targets
  // are the Deployments the Rollouts name, app-NNNN; the primaries end in -primary.
  const isTarget = (raw: unknown) => !(raw as Item).metadata?.name?.endsWith("-primary");
  const machine = (raw: unknown) => (raw as Item).status?.machine;
  // Settles the heap (the lists' garbage, JSON.parse's first use) before the first weighing.
  retainedBytes(rolloutTexts, () => undefined);
  const kinds = {
    rollouts: retainedBytes(rolloutTexts, rolloutObject),
    // Weeks on, every Rollout's history is full: the cache keeps a digest of it, not the entries.
    "rollouts, each with a full status.history (50 checks of 3 metrics)": retainedBytes(
      rolloutTexts.map(withFullHistory),
      rolloutObject,
    ),
    deployments: retainedBytes(deploymentTexts, (raw) => deploymentView(raw, isTarget(raw))),
    services: retainedBytes(serviceTexts, serviceView),
    trafficsplits: retainedBytes(splitTexts, splitView),
    "status.machine (inside the Rollouts')": retainedBytes(rolloutTexts, machine),
    "restored machine snapshots (one a reconcile, not kept)": retainedBytes(rolloutTexts, (raw) => {
      const r = restore(machine(raw));
      return r.ok ? r.value : undefined;
    }),
  };
  const machineJson = rolloutTexts.map((t) => JSON.stringify(machine(JSON.parse(t)) ?? "").length);
  return {
    perRollout: Object.fromEntries(
      Object.entries(kinds).map(([kind, { bytes, count }]) => [
        kind,
        { bytesPerRollout: bytes / rollouts, objects: count },
      ]),
    ),
    machineJsonBytes: machineJson.reduce((a, b) => a + b, 0) / Math.max(1, machineJson.length),
  };
}

/** "rollouts 2,400 B (300 objects), deployments ...": one line of the figures. */
export const describeCacheBytes = (c: Awaited<ReturnType<typeof cacheBytes>>) =>
  `${Object.entries(c.perRollout)
    .map(
      ([kind, v]) =>
        `${kind} ${Math.round(v.bytesPerRollout).toLocaleString("en")} B (${v.objects} objects)`,
    )
    .join(
      ", ",
    )}; status.machine is ${Math.round(c.machineJsonBytes).toLocaleString("en")} B of JSON a Rollout`;
