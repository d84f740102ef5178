import { readFileSync } from "node:fs";
import https from "node:https";
import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { SHARD_LEASE_TIMING } from "../../src/controller/shard-leases.ts";
import { leaseNames, shardOf } from "../../src/controller/shards.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { canaryPercent, type SplitView, splitView } from "../../src/traffic/smi/router.ts";
import { adminClient, createApp, eventually, newNamespace, ok, paths } from "./support/cluster.ts";
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
const start = (identity: string, asAccount = kubeconfig) =>
  replicas.set(
    identity,
    startController(
      asAccount,
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

/** The replica's log lines with this message, and when each was logged. */
function logLines(
  controller: RunningController,
  msg: string,
): (Record<string, unknown> & { at: number })[] {
  return readFileSync(controller.logFile, "utf8")
    .split("\n")
    .filter((line) => line.includes(`"msg":"${msg}`))
    .map((line) => {
      const entry = JSON.parse(line) as Record<string, unknown> & { time: string };
      return { ...entry, at: Date.parse(entry.time) };
    });
}

/** A namespace of `count` apps, each a 1-replica Deployment and its Rollout, all Healthy. */
async function healthyApps(prefix: string, count: number) {
  const ns = await newNamespace(client, prefix);
  const apps = Array.from({ length: count }, (_, i) => `app-${String(i).padStart(2, "0")}`);
  for (let i = 0; i < apps.length; i += 10)
    await Promise.all(apps.slice(i, i + 10).map((name) => createApp(client, ns, name, STEPS)));
  const rollouts = async () =>
    ok(await client.get<{ items: RolloutJson[] }>(paths.rollouts(ns)), "rollouts").items;
  const initial = await eventually(
    "every rollout Healthy",
    async () => {
      const items = await rollouts();
      return items.length === count && items.every((r) => r.status?.phase === "Healthy")
        ? new Map(items.map((r) => [r.metadata.name, r.status?.stableRevision]))
        : undefined;
    },
    120_000,
  );
  const splits = watchCollection<SplitView & { metadata: { resourceVersion: string } }>(
    paths.splits(ns),
  );
  await splits.listed;
  /** The app's canary weight in each version of its split, oldest first. */
  const weights = (app: string) =>
    splits.versions
      .filter((v) => v.object.metadata.name === app)
      .map((v) => {
        const view = splitView(v.object);
        return view ? canaryPercent(view, `${app}-canary`) : -1;
      });
  return {
    ns,
    apps,
    weights,
    async trigger() {
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
    },
    /** Mid-wave: every app at 20 or beyond. */
    started: () =>
      eventually(
        "every app's first weight",
        () => (apps.every((a) => weights(a).some((w) => w > 0)) ? true : undefined),
        60_000,
      ),
    async promoted() {
      await eventually(
        "every rollout promoted",
        async () =>
          (await rollouts()).every(
            (r) =>
              r.status?.phase === "Healthy" &&
              r.status.stableRevision !== initial.get(r.metadata.name),
          )
            ? true
            : undefined,
        120_000,
      );
      await splits.stop();
      // No step repeated or skipped: each version of each split is a weight change.
      for (const app of apps)
        expect({ app, weights: weights(app) }).toEqual({ app, weights: [0, 20, 40, 60, 0] });
    },
  };
}

/**
 * Holds the Leases' history to the rules: a shard taken over without a release only once its
 * last holder left it unrenewed a whole lease, and every write of an app made by its shard's
 * holder within its tenure. Returns the takeovers (by the holder that lost the shard) and the
 * writes checked, by replica.
 */
function judgeTenures(leases: Version<Lease>[], ns: string) {
  const lease = SHARD_LEASE_TIMING.leaseDurationMs;
  const checked = new Map<string, number>();
  const takeovers = new Map<string, number>();
  for (let s = 0; s < SHARDS; s++) {
    const held = tenures(leases, s);
    for (let i = 1; i < held.length; i++) {
      const [before, after] = [held[i - 1], held[i]];
      if (!before || !after || before.to !== after.from) continue;
      expect(after.from - before.lastRenew).toBeGreaterThanOrEqual(lease);
      takeovers.set(before.holder, (takeovers.get(before.holder) ?? 0) + 1);
    }
    for (const [identity, controller] of replicas)
      for (const w of writesOf(controller, ns).filter(
        (w) => shardOf(`${ns}/${w.app}`, SHARDS) === s,
      )) {
        const covering = held.some((t) => t.holder === identity && t.from <= w.at && w.at <= t.to);
        expect({ identity, shard: s, write: w, covering }).toMatchObject({ covering: true });
        checked.set(identity, (checked.get(identity) ?? 0) + 1);
      }
  }
  return { takeovers, checked };
}

const describeCounts = (counts: Map<string, number>) =>
  [...counts].map(([id, n]) => `${id} ${n}`).join(", ") || "none";

/**
 * Every takeover is of a shard its holder held when the test killed it (`killed`: how many), or
 * one its log says it lost.
 */
function expectLossesLogged(takeovers: Map<string, number>, killed: Record<string, number>) {
  for (const identity of new Set([...takeovers.keys(), ...Object.keys(killed)])) {
    const replica = replicas.get(identity) as RunningController;
    const lost = logLines(replica, "lost a shard's Lease before handing it back").length;
    const [taken, held] = [takeovers.get(identity) ?? 0, killed[identity] ?? 0];
    expect(taken).toBeGreaterThanOrEqual(held);
    // A shard lost and taken again by the same replica is no takeover: lost may be more.
    expect({ identity, unexplained: Math.max(0, taken - held - lost) }).toEqual({
      identity,
      unexplained: 0,
    });
  }
}

const stopAll = async () => {
  await Promise.all([...replicas.values()].map((r) => r.kill()));
  replicas.clear();
};

/** The APF FlowSchema and priority level the apiserver filed a GET under, from its answer's headers. */
async function filedUnder(kubeconfigPath: string, path: string) {
  const kc = new KubeConfig();
  kc.loadFromFile(kubeconfigPath);
  const options: https.RequestOptions = {};
  await kc.applyToHTTPSOptions(options);
  const url = new URL(`${kc.getCurrentCluster()?.server}${path}`);
  return new Promise<{ status?: number; flowSchema: unknown; priorityLevel: unknown }>(
    (resolve, reject) =>
      https
        .get(url, options, (response) => {
          response.resume();
          resolve({
            status: response.statusCode,
            flowSchema: response.headers["x-kubernetes-pf-flowschema-uid"],
            priorityLevel: response.headers["x-kubernetes-pf-prioritylevel-uid"],
          });
        })
        .on("error", reject),
  );
}

/**
 * A replica's ServiceAccount of its own (the controller's ClusterRole, and the Lease Role through
 * a RoleBinding the test can take away and give back).
 */
async function revocableReplica() {
  const sa = "fledge-controller-y";
  const created = (what: string, result: Awaited<ReturnType<KubeClient["create"]>>) => {
    if (!result.ok && result.error.status !== 409) ok(result, what);
  };
  created(
    "service account",
    await client.create("/api/v1/namespaces/fledge-system/serviceaccounts", {
      metadata: { name: sa },
    }),
  );
  const subjects = [{ kind: "ServiceAccount", name: sa, namespace: "fledge-system" }];
  const rbac = "/apis/rbac.authorization.k8s.io/v1";
  created(
    "cluster role binding",
    await client.create(`${rbac}/clusterrolebindings`, {
      metadata: { name: sa },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: GROUP },
      subjects,
    }),
  );
  const leaseBinding = `${rbac}/namespaces/fledge-system/rolebindings`;
  const restore = async () =>
    created(
      "lease role binding",
      await client.create(leaseBinding, {
        metadata: { name: `${sa}-leases` },
        roleRef: {
          apiGroup: "rbac.authorization.k8s.io",
          kind: "Role",
          name: "fledge-leader-election",
        },
        subjects,
      }),
    );
  await restore();
  const saKubeconfig = await controllerKubeconfig(tmp.dir, undefined, sa);
  return {
    restore,
    revoke: async () => ok(await client.delete(`${leaseBinding}/${sa}-leases`), "revoke"),
    start: (identity: string) => {
      start(identity, saKubeconfig);
      return replicas.get(identity) as RunningController;
    },
  };
}

describe("shards across replicas", () => {
  test("the apiserver files the controller's Lease requests under deploy/'s FlowSchema at the leader-election level, its other requests as before", async () => {
    const uid = async (path: string) =>
      ok(await client.get<{ metadata: { uid: string } }>(path), path).metadata.uid;
    const flowcontrol = "/apis/flowcontrol.apiserver.k8s.io/v1";
    const ours = await uid(`${flowcontrol}/flowschemas/fledge-controller-leases`);
    const leaderElection = await uid(`${flowcontrol}/prioritylevelconfigurations/leader-election`);
    const lease = await filedUnder(kubeconfig, `${LEASES}/${names.shard(0)}`);
    expect(lease).toMatchObject({ flowSchema: ours, priorityLevel: leaderElection });
    // A custom resource's storage answers 429 for a moment after the apiserver starts.
    const other = await eventually("a list of Rollouts answered", async () => {
      const answer = await filedUnder(kubeconfig, paths.rollouts("default"));
      return answer.status === 200 ? answer : undefined;
    });
    expect(other.flowSchema).toBe(await uid(`${flowcontrol}/flowschemas/service-accounts`));
  });

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

    const wave = await healthyApps("shards", APPS);
    await wave.trigger();
    await wave.started();
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
    await wave.promoted();
    await leases.stop();

    const { takeovers, checked } = judgeTenures(leases.versions, wave.ns);
    console.info(
      `shards: the SIGKILLed replica's shards retaken after ${(retaken / 1000).toFixed(1)} s ` +
        `(takeovers ${describeCounts(takeovers)}, none before its lease ran out), the SIGTERMed one's handed ` +
        `over in ${(handedOver / 1000).toFixed(1)} s; writes checked against the Leases: ` +
        [...checked].map(([id, n]) => `${id} ${n}`).join(", "),
    );
    // shard-a held 4 shards for the apps' set-up and first step; each replica wrote.
    // shard-a's four, and any other only from a replica that says it lost that shard's Lease
    // (a renewal unanswered to its deadline, which a loaded machine can cause).
    expectLossesLogged(takeovers, { "shard-a": 4 });
    expect([...checked.keys()].sort()).toEqual(["shard-a", "shard-b", "shard-c"]);
    await stopAll();
  }, 300_000);

  test("a replica that can no longer renew its Leases stops acting on their shards before another may take them, their rollouts finish, and it takes its share again once it can", async () => {
    await stopAll();
    const y = await revocableReplica();
    const leases = watchCollection<Lease>(LEASES);
    await leases.listed;
    start("shard-x");
    const yReplica = y.start("shard-y");
    await eventually(
      "12 shards held 6 by each replica",
      () =>
        countBy(holders(leases.versions)).get("shard-y") === 6 &&
        countBy(holders(leases.versions)).get("shard-x") === 6
          ? true
          : undefined,
      60_000,
    );

    const wave = await healthyApps("shards-lost", 24);
    await wave.trigger();
    await wave.started();
    const revokedAt = Date.now();
    await y.revoke();
    await eventually(
      "shard-y's shards taken by shard-x",
      () => (countBy(holders(leases.versions)).get("shard-x") === SHARDS ? true : undefined),
      60_000,
    );
    await wave.promoted();
    // It lost each shard on its own deadline and carries on: no restart, no relist.
    const lost = logLines(yReplica, "lost a shard's Lease before handing it back");
    expect(lost).toHaveLength(6);
    expect(yReplica.process.exitCode).toBe(null);
    // Denied its Leases, each of its candidates says so once, not at every retry.
    const denied = logLines(yReplica, "could not acquire lease").filter((l) => l.level === 40);
    expect(denied.length).toBeGreaterThan(0);
    expect(new Set(denied.map((l) => `${l.lease} ${l.reason}`)).size).toBe(denied.length);
    const stoppedAfter = Math.max(...lost.map((l) => l.at)) - revokedAt;

    // Its last write came before its renew deadline ran out, long before the lease could pass.
    const lastRenew = Math.max(
      ...leases.versions
        .filter((v) => v.object.spec?.holderIdentity === "shard-y")
        .map((v) => Date.parse(v.object.spec?.renewTime ?? "")),
    );
    const lastWrite = Math.max(...writesOf(yReplica, wave.ns).map((w) => w.at));
    expect(lastWrite).toBeLessThanOrEqual(lastRenew + SHARD_LEASE_TIMING.renewDeadlineMs);

    // Given its Leases back, it takes its share again and acts only within its new tenures.
    await y.restore();
    await eventually(
      "12 shards held 6 by each replica again",
      () => (countBy(holders(leases.versions)).get("shard-y") === 6 ? true : undefined),
      // Its Lease watch, refused meanwhile, retries on a backoff of up to 30 s.
      90_000,
    );
    const again = await healthyApps("shards-back", 12);
    await again.trigger();
    await again.promoted();
    await leases.stop();

    const { takeovers, checked } = judgeTenures(leases.versions, wave.ns);
    const afterReturn = judgeTenures(leases.versions, again.ns);
    console.info(
      `shards: a replica denied its Leases lost its 6 shards ${(stoppedAfter / 1000).toFixed(1)} s ` +
        `after the RoleBinding went, its last write ${((lastWrite - lastRenew) / 1000).toFixed(1)} s ` +
        `after its last renewal; takeovers ${describeCounts(takeovers)}; writes checked: ` +
        [...checked].map(([id, n]) => `${id} ${n}`).join(", ") +
        `; back with its Leases, writes checked: ` +
        [...afterReturn.checked].map(([id, n]) => `${id} ${n}`).join(", "),
    );
    expect(takeovers.get("shard-y")).toBe(6);
    expectLossesLogged(takeovers, {});
    expect(stoppedAfter).toBeLessThan(SHARD_LEASE_TIMING.leaseDurationMs + 5_000);
    expect([...afterReturn.checked.keys()].sort()).toEqual(["shard-x", "shard-y"]);
  }, 300_000);

  test("a shard lost mid-wave and won back with no holder between resumes at once, its Rollouts not read again, no step repeated or skipped", async () => {
    await stopAll();
    const account = await revocableReplica();
    const leases = watchCollection<Lease>(LEASES);
    await leases.listed;
    const z = account.start("shard-z");
    await eventually(
      "12 shards held by shard-z",
      () => (countBy(holders(leases.versions)).get("shard-z") === SHARDS ? true : undefined),
      60_000,
    );
    const wave = await healthyApps("shards-resumed", 24);
    await wave.trigger();
    await wave.started();
    await account.revoke();
    await eventually(
      "every shard lost",
      () =>
        logLines(z, "lost a shard's Lease before handing it back").length === SHARDS
          ? true
          : undefined,
      60_000,
    );
    await account.restore();
    const resumed = await eventually(
      "every shard taken back",
      () => {
        const back = logLines(z, "took back a shard no one held meanwhile");
        return back.length === SHARDS ? back : undefined;
      },
      90_000,
    );
    await wave.promoted();
    await leases.stop();

    const { takeovers, checked } = judgeTenures(leases.versions, wave.ns);
    console.info(
      `shards: a lone replica lost its ${SHARDS} shards mid-wave and took them back, ` +
        `queuing their Rollouts in ${Math.max(...resumed.map((r) => Number(r.ms)))} ms at most; writes checked: ${describeCounts(checked)}`,
    );
    expect(resumed.map((r) => r.read)).toEqual(Array(SHARDS).fill(0));
    expect(takeovers.size).toBe(0);
    expect([...checked.keys()]).toEqual(["shard-z"]);
    expect(z.process.exitCode).toBe(null);
  }, 300_000);
});
