import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SHARD_LEASE_TIMING } from "../../src/controller/shard-leases.ts";
import { leaseNames, shardOf } from "../../src/controller/shards.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { canaryPercent, type SplitView, splitView } from "../../src/traffic/smi/router.ts";
import {
  adminClient,
  deploymentManifest,
  eventually,
  newNamespace,
  ok,
  paths,
  rolloutManifest,
} from "./support/cluster.ts";
import {
  controllerKubeconfig,
  type RunningController,
  startController,
  tempDir,
} from "./support/controller.ts";
import { type Version, watchCollection } from "./support/watch.ts";

const SHARDS = 12;
const APPS = 60;
const GROUP = "fledge-controller";
const LEASES = "/apis/coordination.k8s.io/v1/namespaces/fledge-system/leases";
const names = leaseNames(GROUP);
const STEPS = [
  { setWeight: 20 },
  { pause: { duration: "4s" } },
  { setWeight: 40 },
  { pause: { duration: "4s" } },
  { setWeight: 60 },
  { pause: { duration: "4s" } },
];

type Lease = {
  metadata: { name: string; resourceVersion: string };
  spec?: {
    holderIdentity?: string | null;
    acquireTime?: string;
    renewTime?: string;
    leaseDurationSeconds?: number;
  };
};
type RolloutJson = {
  metadata: { name: string };
  status?: { phase?: string; stableRevision?: string };
};

const tmp = tempDir();
let client: KubeClient;
let kubeconfig: string;
const replicas = new Map<string, RunningController>();
const start = (identity: string) =>
  replicas.set(
    identity,
    startController(
      kubeconfig,
      tmp.dir,
      [`--shards=${SHARDS}`, "--workers=8"],
      "debug",
      undefined,
      [],
      {
        POD_NAME: identity,
      },
    ),
  );

beforeAll(async () => {
  client = await adminClient();
  kubeconfig = await controllerKubeconfig(tmp.dir);
});
afterAll(async () => {
  await Promise.all([...replicas.values()].map((r) => r.kill()));
  if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
});

/** Who holds each shard now, as the Leases' watch last showed them. */
function holders(leases: Version<Lease>[]): Map<number, string> {
  const now = new Map<number, string>();
  for (const v of leases)
    for (let s = 0; s < SHARDS; s++)
      if (v.object.metadata.name === names.shard(s))
        now.set(s, v.object.spec?.holderIdentity ?? "");
  return now;
}
const countBy = (m: Map<number, string>) => {
  const counts = new Map<string, number>();
  for (const h of m.values()) if (h) counts.set(h, (counts.get(h) ?? 0) + 1);
  return counts;
};

/**
 * Each holder's time with a shard, from the Lease's versions: from its acquireTime until the
 * Lease was handed back (the release's renewTime) or taken over (the next holder's acquireTime).
 */
function tenures(leases: Version<Lease>[], shard: number) {
  const out: { holder: string; from: number; to: number; lastRenew: number }[] = [];
  for (const v of leases) {
    if (v.object.metadata.name !== names.shard(shard)) continue;
    const spec = v.object.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const last = out[out.length - 1];
    const renew = Date.parse(spec.renewTime ?? "");
    if (last && last.holder === holder && last.to === Number.POSITIVE_INFINITY) {
      last.lastRenew = renew;
      continue;
    }
    const at = holder ? Date.parse(spec.acquireTime ?? "") : renew;
    if (last && last.to === Number.POSITIVE_INFINITY) last.to = at;
    if (holder) out.push({ holder, from: at, to: Number.POSITIVE_INFINITY, lastRenew: renew });
  }
  return out;
}

/** The writes a replica's log shows for the namespace's apps: when, and which app's. */
function writesOf(controller: RunningController, ns: string) {
  const out: { at: number; app: string; path: string }[] = [];
  for (const line of readFileSync(controller.logFile, "utf8").split("\n")) {
    if (!line.includes('"msg":"write"')) continue;
    const entry = JSON.parse(line) as { time: string; path: string };
    const m = new RegExp(`/namespaces/${ns}/[a-z]+/(app-\\d+)`).exec(entry.path);
    if (m?.[1]) out.push({ at: Date.parse(entry.time), app: m[1], path: entry.path });
  }
  return out;
}

describe("shards across three replicas", () => {
  test("12 shards settle at 4 a replica; a wave of 60 survives one replica SIGKILLed and another SIGTERMed with no step repeated or skipped, each write made by its shard's holder", async () => {
    const leases = watchCollection<Lease>(LEASES);
    await leases.listed;
    for (const id of ["shard-a", "shard-b", "shard-c"]) start(id);
    const settled = await eventually(
      "12 shards held 4 by each replica",
      () => {
        const counts = countBy(holders(leases.versions));
        return [...counts.values()].join() === "4,4,4" ? counts : undefined;
      },
      60_000,
    );
    expect([...settled.keys()].sort()).toEqual(["shard-a", "shard-b", "shard-c"]);

    const ns = await newNamespace(client, "shards");
    const apps = Array.from({ length: APPS }, (_, i) => `app-${String(i).padStart(2, "0")}`);
    for (let i = 0; i < apps.length; i += 10)
      await Promise.all(
        apps.slice(i, i + 10).map(async (name) => {
          ok(await client.create(paths.deployments(ns), deploymentManifest(ns, name, 1)), name);
          ok(
            await client.create(
              paths.rollouts(ns),
              rolloutManifest(ns, name, {
                targetRef: { name },
                service: { port: 80, targetPort: 9898 },
                steps: STEPS,
              }),
            ),
            name,
          );
        }),
      );
    const rollouts = async () =>
      ok(await client.get<{ items: RolloutJson[] }>(paths.rollouts(ns)), "rollouts").items;
    const initial = await eventually(
      "every rollout Healthy",
      async () => {
        const items = await rollouts();
        return items.length === APPS && items.every((r) => r.status?.phase === "Healthy")
          ? new Map(items.map((r) => [r.metadata.name, r.status?.stableRevision]))
          : undefined;
      },
      120_000,
    );

    const splits = watchCollection<SplitView & { metadata: { resourceVersion: string } }>(
      paths.splits(ns),
    );
    await splits.listed;
    const weights = (app: string) =>
      splits.versions
        .filter((v) => v.object.metadata.name === app)
        .map((v) => {
          const view = splitView(v.object);
          return view ? canaryPercent(view, `${app}-canary`) : -1;
        });
    await Promise.all(
      apps.map(async (name) =>
        ok(
          await client.patch(`${paths.deployments(ns)}/${name}`, {
            spec: { template: { metadata: { annotations: { "example.com/revision": "2" } } } },
          }),
          name,
        ),
      ),
    );

    // Mid-wave: every app at 20 or beyond.
    await eventually(
      "every app's first weight",
      () => (apps.every((a) => weights(a).some((w) => w > 0)) ? true : undefined),
      60_000,
    );
    const killedAt = performance.now();
    expect(await replicas.get("shard-a")?.kill("SIGKILL")).toBe(null);
    const retaken = await eventually(
      "shard-a's shards taken by the others",
      () => {
        const now = holders(leases.versions);
        return [...now.values()].every((h) => h === "shard-b" || h === "shard-c")
          ? performance.now() - killedAt
          : undefined;
      },
      60_000,
    );
    const terminatedAt = performance.now();
    expect(await replicas.get("shard-b")?.kill("SIGTERM")).toBe(0);
    const handedOver = await eventually(
      "every shard held by shard-c",
      () =>
        countBy(holders(leases.versions)).get("shard-c") === SHARDS
          ? performance.now() - terminatedAt
          : undefined,
      30_000,
    );

    await eventually(
      "every rollout promoted",
      async () => {
        const items = await rollouts();
        return items.every(
          (r) =>
            r.status?.phase === "Healthy" &&
            r.status.stableRevision !== initial.get(r.metadata.name),
        )
          ? true
          : undefined;
      },
      120_000,
    );
    await splits.stop();
    await leases.stop();

    // No step repeated or skipped: each version of each split is a weight change.
    for (const app of apps)
      expect({ app, weights: weights(app) }).toEqual({
        app,
        weights: [0, 20, 40, 60, 0],
      });

    const lease = SHARD_LEASE_TIMING.leaseDurationMs;
    const checked = new Map<string, number>();
    let takeovers = 0;
    for (let s = 0; s < SHARDS; s++) {
      const held = tenures(leases.versions, s);
      for (let i = 1; i < held.length; i++) {
        const [before, after] = [held[i - 1], held[i]];
        if (!before || !after || before.to !== after.from) continue;
        // Taken over without a release: only once the last holder left it unrenewed a lease.
        expect(after.from - before.lastRenew).toBeGreaterThanOrEqual(lease);
        takeovers++;
      }
      // Every write of an app of this shard was made by a holder within its tenure.
      for (const [identity, controller] of replicas)
        for (const w of writesOf(controller, ns).filter(
          (w) => shardOf(`${ns}/${w.app}`, SHARDS) === s,
        )) {
          const covering = held.some(
            (t) => t.holder === identity && t.from <= w.at && w.at <= t.to,
          );
          expect({ identity, shard: s, write: w, covering }).toMatchObject({ covering: true });
          checked.set(identity, (checked.get(identity) ?? 0) + 1);
        }
    }
    console.info(
      `shards: the SIGKILLed replica's shards retaken after ${(retaken / 1000).toFixed(1)} s ` +
        `(${takeovers} takeovers, none before its lease ran out), the SIGTERMed one's handed ` +
        `over in ${(handedOver / 1000).toFixed(1)} s; writes checked against the Leases: ` +
        [...checked].map(([id, n]) => `${id} ${n}`).join(", "),
    );
    // shard-a held 4 shards for the apps' set-up and first step; each replica wrote.
    expect(takeovers).toBe(4);
    expect([...checked.keys()].sort()).toEqual(["shard-a", "shard-b", "shard-c"]);
  }, 300_000);
});
