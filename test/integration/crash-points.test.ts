// Crash points (issue 11): with FLEDGE_CRASH_AFTER_WRITES=k the controller SIGKILLs itself right
// after its k-th write to the apiserver. A run places one crash at write k1 of a rollout, or two
// (k2 counted from the second controller's start), then lets a controller without the switch
// finish. Every k1 of the promotion path and of the rollback path is tried, and with each, every
// k2; the runs watch the split, the primary and the target, and hold them to what a controller
// that never stopped does.

import { mkdirSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { REVISION_ANNOTATION } from "../../src/api/names.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { templateHash } from "../../src/kube/deployment.ts";
import { canaryPercent, splitView } from "../../src/traffic/smi/router.ts";
import { adminClient, eventually, ok, paths } from "./support/cluster.ts";
import {
  controllerKubeconfig,
  type RunningController,
  startController,
  tempDir,
} from "./support/controller.ts";
import { Podinfo, type RolloutJson } from "./support/rollouts.ts";
import { type Version, watchObject } from "./support/watch.ts";

// Two weights with a pause after each: the shortest plan in which a step can be skipped or a
// weight undone, and whose promotion follows a pause, as in the issue's reproduction.
const STEPS = [
  { setWeight: 20 },
  { pause: { duration: "1s" } },
  { setWeight: 60 },
  { pause: { duration: "1s" } },
];
// Runs at once, each with its own namespace, pods and controller processes, shared by both paths.
const POOL = 5;
// A controller with the switch that reaches the end is watched this long more for a write it
// still makes (the same reconcile's, or the next one's on its own writes' watch events).
const QUIET_MS = 1_500;
// Limits for hangs, not for speed.
const SETTLE_MS = 120_000;
const FILE_MS = 1_500_000;

type Meta = { name: string; resourceVersion: string; annotations?: Record<string, string> };
type Deployment = {
  metadata: Meta;
  spec: { replicas?: number; template: { metadata?: { annotations?: Record<string, string> } } };
  status?: { readyReplicas?: number };
};
type Split = { metadata: Meta };

type Path = {
  name: "promotion" | "rollback" | "blue-green";
  spec: () => Record<string, unknown>;
  /** The canary weights in order, each distinct value once. */
  weights: number[];
  /** Where it ends: phase, and the revision the primary then serves. */
  phase: "Healthy" | "Failed";
  revisions: (old: string, next: string) => string[];
  /** Blue/green: the primary may leave the old revision only while the split sends it nothing. */
  retiresSwitched?: true;
};

type Run = {
  label: string;
  /** Whether each controller started with the switch died by it. */
  crashed: boolean[] | undefined;
  failures: string[];
};

const world = {} as { client: KubeClient; kubeconfig: string; dir: string; webhook: string };
const tmp = tempDir();
const fileStart = Date.now();
let closeWebhook = async () => {};

beforeAll(async () => {
  world.client = await adminClient();
  world.dir = tmp.dir;
  world.kubeconfig = await controllerKubeconfig(tmp.dir);
  // The rollback path's analysis: a `rollout` webhook that fails every check.
  const server = createServer((req, res) => {
    req.resume();
    res.writeHead(500).end("failing on purpose");
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  world.webhook = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  closeWebhook = () => new Promise((resolve) => server.close(() => resolve()));
});

afterAll(async () => {
  await closeWebhook();
  if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
  console.log(`crash-points.test.ts took ${((Date.now() - fileStart) / 1000).toFixed(0)} s`);
});

/** At most `size` runs at once, across both paths. */
class Slots {
  private free: number;
  private readonly waiting: (() => void)[] = [];
  constructor(size: number) {
    this.free = size;
  }
  async acquire(): Promise<() => void> {
    if (this.free > 0) this.free--;
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    return () => {
      const next = this.waiting.shift();
      if (next) next();
      else this.free++;
    };
  }
}
const slots = new Slots(POOL);

/**
 * Which (k1, k2) runs a path has, learnt as runs end: k1 = 1, 2, ... until the first controller
 * with the switch reaches the end alive (the path has fewer writes), and for each k1, k2 = 1,
 * 2, ... until the second does. While runs are in flight, the next run is the one that the
 * fewest unknown outcomes stand between: usually one already known to be needed.
 */
class CrashPoints {
  private readonly first = new Map<number, boolean>();
  private readonly second = new Map<string, boolean>();
  private readonly tried = new Set<string>();
  /** k1 or (k1, k2) whose runs disagreed on whether the controller crashed. */
  readonly unsteady: string[] = [];

  /** Unknown outcomes before (k1, k2) is known to be on the path; -1 once it is known not to be. */
  private unknowns(k1: number, k2: number): number {
    const facts = [
      ...Array.from({ length: k1 - 1 }, (_, j) => this.first.get(j + 1)),
      ...(k2 > 1 ? [this.first.get(k1)] : []),
      ...Array.from({ length: k2 - 1 }, (_, j) => this.second.get(`${k1},${j + 1}`)),
    ];
    if (facts.includes(false)) return -1;
    return facts.filter((f) => f === undefined).length;
  }

  next(): [number, number] | undefined {
    let best: { k: [number, number]; unknowns: number } | undefined;
    for (let k1 = 1; this.unknowns(k1, 1) >= 0 && this.unknowns(k1, 1) < POOL; k1++) {
      for (let k2 = 1; this.unknowns(k1, k2) >= 0 && this.unknowns(k1, k2) < POOL; k2++) {
        const unknowns = this.unknowns(k1, k2);
        if (!this.tried.has(`${k1},${k2}`) && (!best || unknowns < best.unknowns))
          best = { k: [k1, k2], unknowns };
      }
    }
    if (best) this.tried.add(best.k.join());
    return best?.k;
  }

  record([k1, k2]: [number, number], crashed: boolean[]): void {
    this.learn(this.first, k1, `k1=${k1}`, crashed[0] ?? false);
    if (crashed[0])
      this.learn(this.second, `${k1},${k2}`, `k1=${k1} k2=${k2}`, crashed[1] ?? false);
  }

  private learn<K>(facts: Map<K, boolean>, key: K, name: string, crashed: boolean): void {
    const known = facts.get(key);
    if (known !== undefined && known !== crashed) this.unsteady.push(name);
    // A crash seen once puts the point on the path, so its runs are not skipped.
    facts.set(key, known === true || crashed);
  }

  get runs(): number {
    return this.tried.size;
  }

  /** Writes of the path, as the first controllers showed them: the largest k1 that crashed. */
  get writes(): number {
    return Math.max(0, ...[...this.first].filter(([, c]) => c).map(([k]) => k));
  }
}

const PATHS: Path[] = [
  {
    name: "promotion",
    spec: () => ({}),
    weights: [0, 20, 60, 0],
    phase: "Healthy",
    revisions: (old, next) => [old, next],
  },
  {
    name: "rollback",
    spec: () => ({
      analysis: {
        interval: "1s",
        failureLimit: 1,
        webhooks: [{ name: "always-fails", type: "rollout", url: world.webhook }],
      },
    }),
    // The first check, at the first step's weight, fails and rolls back.
    weights: [0, 20, 0],
    phase: "Failed",
    revisions: (old) => [old],
  },
  {
    name: "blue-green",
    spec: () => ({ strategy: "blueGreen", steps: [], blueGreen: { scaleDownDelaySeconds: 1 } }),
    weights: [0, 100, 0],
    phase: "Healthy",
    revisions: (old, next) => [old, next],
    retiresSwitched: true,
  },
];

/** Each value once per stretch of equal values. */
const distinct = <T>(values: T[]) => values.filter((v, i) => i === 0 || values[i - 1] !== v);

const weightOf = (split: unknown) => {
  const view = splitView(split);
  return view ? canaryPercent(view, "podinfo-canary") : undefined;
};
const templateRevision = (d: Deployment) =>
  d.spec.template.metadata?.annotations?.[REVISION_ANNOTATION];
const readyPods = (d: Deployment) => d.status?.readyReplicas ?? 0;

/** The moments the canary had weight while the target had no ready pod. */
function weightWithoutPods(splits: Version<Split>[], targets: Version<Deployment>[]): string[] {
  return merged(splits, targets).flatMap(({ rv, split, deployment: target }) => {
    const weight = split ? weightOf(split) : undefined;
    return target && weight !== undefined && weight > 0 && readyPods(target) === 0
      ? [`rv ${rv}: weight ${weight} with 0 ready target pods`]
      : [];
  });
}

/**
 * Versions of the split and a Deployment in the order etcd stored them (resourceVersions of one
 * etcd are one sequence), each with the latest of the other. Two watches deliver in their own
 * time, so ordering by arrival could pair a version with a stale one of the other.
 */
function merged(splits: Version<Split>[], deployments: Version<Deployment>[]) {
  const versions: { rv: number; split?: Split; deployment?: Deployment }[] = [
    ...splits.map((v) => ({ rv: v.rv, split: v.object })),
    ...deployments.map((v) => ({ rv: v.rv, deployment: v.object })),
  ].sort((a, b) => a.rv - b.rv);
  let split: Split | undefined;
  let deployment: Deployment | undefined;
  return versions.map((m) => {
    split = m.split ?? split;
    deployment = m.deployment ?? deployment;
    return { rv: m.rv, split, deployment };
  });
}

/** Whether the primary's template left the old revision while the split sent the primary traffic. */
function retiredUnderTraffic(
  splits: Version<Split>[],
  primary: Version<Deployment>[],
  old: string,
): string[] {
  const left = merged(splits, primary).find(({ deployment }) => {
    const revision = deployment && templateRevision(deployment);
    return revision !== undefined && revision !== old;
  });
  const weight = left?.split ? weightOf(left.split) : undefined;
  return left && weight !== 100
    ? [`rv ${left.rv}: the primary left ${old} while the canary had ${weight ?? "no"} weight`]
    : [];
}

/** The writes a controller logged ("n METHOD path"), for failure messages. */
function writesOf(controller: RunningController): string[] {
  const writes: string[] = [];
  for (const line of controller.logs().split("\n")) {
    if (!line.includes('"msg":"write"')) continue;
    const w = JSON.parse(line) as { n: number; method: string; path: string };
    writes.push(`${w.n} ${w.method} ${w.path.replace(/^.*\/namespaces\/[^/]+\//, "")}`);
  }
  return writes;
}

/**
 * Waits until the controller dies, or the rollout has ended and the controller stayed alive for
 * `quietMs` more; "hung" when neither happens in time.
 */
async function outcome(
  controller: RunningController,
  ended: () => Promise<boolean>,
  quietMs: number,
): Promise<"crashed" | "exited" | "ended" | "hung"> {
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void controller.exited.then((e) => {
    exit = e;
  });
  const deadline = Date.now() + SETTLE_MS;
  let endedAt: number | undefined;
  while (Date.now() < deadline) {
    if (exit) return exit.signal === "SIGKILL" ? "crashed" : "exited";
    if (endedAt === undefined && (await ended())) endedAt = Date.now();
    if (endedAt !== undefined && Date.now() - endedAt >= quietMs) return "ended";
    await sleep(100);
  }
  return "hung";
}

/**
 * A namespace with podinfo and its Rollout that runs take in turn, and whether the last run left
 * it Healthy (a promotion always does; after a rollback its last controller takes it there).
 */
type Lane = { p: Podinfo; healthy: boolean };

function startIn(dir: string, ns: string, k?: number): RunningController {
  return startController(
    world.kubeconfig,
    dir,
    ["--namespace", ns, "--lease-namespace", "none"],
    "debug",
    "src/main.ts",
    [],
    {
      // Compiled once for the file's hundreds of controller starts: the TypeScript is not stripped
      // again each time, which is most of a start's CPU.
      NODE_COMPILE_CACHE: join(world.dir, "compile-cache"),
      ...(k === undefined ? {} : { FLEDGE_CRASH_AFTER_WRITES: String(k) }),
    },
  );
}

async function stop(controller: RunningController, what: string): Promise<void> {
  // Its SIGTERM handler is installed as it starts: a signal before then would kill it outright.
  await controller.metricsPort();
  const code = await controller.kill("SIGTERM");
  if (code !== 0) throw new Error(`${what} exited with ${code} on SIGTERM`);
}

/**
 * Takes a Failed lane back to Healthy with the controller running: the target returns to the
 * stable revision.
 */
async function restore(p: Podinfo): Promise<RolloutJson> {
  await p.newRevision(null);
  return p.phase("Healthy", SETTLE_MS);
}

/**
 * Healthy, with no controller running: a lane the last run left so is there already; a new lane
 * or one a run left Failed is brought there by a controller without the switch.
 */
async function prepare(path: Path, dir: string, lane?: Lane): Promise<{ lane: Lane; old: string }> {
  if (lane?.healthy) {
    const r = await lane.p.rollout();
    return { lane, old: r.status?.stableRevision ?? "" };
  }
  const p =
    lane?.p ?? (await Podinfo.create(world.client, `crash-${path.name}`, STEPS, path.spec()));
  const setup = startIn(dir, p.ns);
  try {
    const healthy = lane ? await restore(p) : await p.phase("Healthy", SETTLE_MS);
    return { lane: { p, healthy: true }, old: healthy.status?.stableRevision ?? "" };
  } finally {
    await stop(setup, "the controller bringing the rollout to Healthy");
  }
}

/** Takes a lane's namespace away; no controller is left to remove the finalizer, so the test does. */
async function retire(lane: Lane): Promise<void> {
  await world.client.patch(`${paths.rollouts(lane.p.ns)}/podinfo`, {
    metadata: { finalizers: null },
  });
  await world.client.delete(`/api/v1/namespaces/${lane.p.ns}`);
}

/**
 * One run on a lane: watchers, a new revision, a controller crashing at its k1-th write, one at
 * its k2-th, one without the switch; the run's failures, and the lane when it can be run on again.
 */
async function runOnce(
  path: Path,
  ks: [number, number],
  given?: Lane,
): Promise<{ run: Run; lane?: Lane }> {
  const label = `${path.name} k1=${ks[0]} k2=${ks[1]}`;
  const dir = join(world.dir, `${path.name}-${ks.join("-")}`);
  mkdirSync(dir);
  const { lane, old } = await prepare(path, dir, given);
  const { p } = lane;
  const failures: string[] = [];
  const crashed: boolean[] = [];
  const controllers: { k: number | undefined; c: RunningController }[] = [];
  const deployments = paths.deployments(p.ns);
  const splits = watchObject<Split>(paths.splits(p.ns), "podinfo");
  const primary = watchObject<Deployment>(deployments, "podinfo-primary");
  const target = watchObject<Deployment>(deployments, "podinfo");
  let keep = false;
  try {
    await Promise.all([splits.listed, primary.listed, target.listed]);
    await p.newRevision(label);
    const pushed = ok(await world.client.get<Deployment>(`${deployments}/podinfo`), "target");
    const next = templateHash(pushed.spec.template);

    const ended = async () => {
      const r = await p.rollout();
      return (
        r.status?.phase === path.phase &&
        (path.phase === "Failed" || r.status.stableRevision !== old)
      );
    };
    let last: RunningController | undefined;
    let lastK: number | undefined;
    for (const k of [...ks, undefined]) {
      const c = startIn(dir, p.ns, k);
      controllers.push({ k, c });
      const how = await outcome(c, ended, k === undefined ? 0 : QUIET_MS);
      if (how === "hung" || how === "exited") {
        failures.push(`the controller started with k=${k ?? "none"} ${how}`);
        break;
      }
      if (k !== undefined) crashed.push(how === "crashed");
      if (how === "ended") {
        last = c;
        lastK = k;
        break;
      }
      if (k === undefined) failures.push("the controller without the switch crashed");
    }

    let final: RolloutJson | undefined;
    if (last) {
      final = await p.rollout();
      await eventually(
        "the split at 0 and the canary scaled to 0",
        async () =>
          (await p.weight()) === 0 && (await p.replicas("podinfo")) === 0 ? true : undefined,
        SETTLE_MS,
      ).catch((e: Error) => failures.push(e.message));
      // One with the switch may reach its k-th write as it shuts down (a crash after the end).
      if (lastK !== undefined) await last.kill("SIGTERM");
    }
    await Promise.all([splits.stop(), primary.stop(), target.stop()]);

    const weights = distinct(splits.versions.map((v) => weightOf(v.object)));
    const revisions = distinct(primary.versions.map((v) => templateRevision(v.object)));
    const expectedRevisions = path.revisions(old, next);
    if (JSON.stringify(weights) !== JSON.stringify(path.weights))
      failures.push(`split weights ${weights.join(",")}, expected ${path.weights.join(",")}`);
    if (JSON.stringify(revisions) !== JSON.stringify(expectedRevisions))
      failures.push(
        `primary template ${revisions.join(" -> ")}, expected ${expectedRevisions.join(" -> ")}`,
      );
    failures.push(...weightWithoutPods(splits.versions, target.versions));
    if (path.retiresSwitched)
      failures.push(...retiredUnderTraffic(splits.versions, primary.versions, old));
    if (final) {
      const revision = expectedRevisions[expectedRevisions.length - 1];
      if (final.status?.phase !== path.phase || final.status.stableRevision !== revision)
        failures.push(
          `ended ${final.status?.phase} at ${final.status?.stableRevision}, expected ${path.phase} at ${revision}`,
        );
    }
    if (failures.length === 0) {
      keep = true;
      // The controller that ended a rollback readies the lane for the next run: a start saved.
      let healthy = path.phase === "Healthy";
      if (last && lastK === undefined) {
        if (!healthy) healthy = (await restore(p)).status?.phase === "Healthy";
        await stop(last, "the last controller");
      }
      return { run: { label, crashed, failures }, lane: { p, healthy } };
    }
    const targetHistory = target.versions.map(
      (v) => `${v.rv}:${v.object.spec.replicas}/${readyPods(v.object)}`,
    );
    failures.unshift(label);
    failures.push(
      ...controllers.map(({ k, c }) => `  controller k=${k ?? "none"}: ${writesOf(c).join("; ")}`),
      `  split (rv:weight): ${splits.versions.map((v) => `${v.rv}:${weightOf(v.object)}`).join(" ")}`,
      `  primary (rv:template revision): ${primary.versions.map((v) => `${v.rv}:${templateRevision(v.object)}`).join(" ")}`,
      `  target (rv:replicas/ready): ${targetHistory.join(" ")}`,
      `  revisions: old ${old}, new ${next}; logs in ${dir} (kept with FLEDGE_KEEP_LOGS=1)`,
    );
    return { run: { label, crashed, failures } };
  } finally {
    await Promise.all(controllers.map(({ c }) => c.kill("SIGKILL")));
    await Promise.all([splits.close(), primary.close(), target.close()]);
    // A lane a run failed on may be anywhere: the next run takes a new one.
    if (!keep) await retire(lane);
  }
}

/** Every run of a path, POOL at once across both paths; the failed runs' reports. */
async function enumerate(path: Path): Promise<{ points: CrashPoints; failed: Run[] }> {
  const points = new CrashPoints();
  const failed: Run[] = [];
  const free: Lane[] = [];
  const inFlight = new Set<Promise<void>>();
  for (;;) {
    const release = await slots.acquire();
    const ks = points.next();
    if (!ks) {
      release();
      if (inFlight.size === 0) break;
      await Promise.race(inFlight);
      continue;
    }
    const run: Promise<void> = runOnce(path, ks, free.pop())
      // A run that could not be carried out teaches nothing of the path and fails the test.
      .catch((e: Error) => ({
        run: {
          label: `${path.name} k1=${ks[0]} k2=${ks[1]}`,
          crashed: undefined,
          failures: [`${path.name} k1=${ks[0]} k2=${ks[1]}: ${e.stack ?? e.message}`],
        },
        lane: undefined,
      }))
      .then(({ run, lane }) => {
        if (run.crashed) points.record(ks, run.crashed);
        if (run.failures.length > 0) failed.push(run);
        if (lane) free.push(lane);
      })
      .finally(() => {
        release();
        inFlight.delete(run);
      });
    inFlight.add(run);
  }
  await Promise.all(free.map(retire));
  return { points, failed };
}

describe.concurrent("a crash at every write, once and twice", () => {
  for (const path of PATHS) {
    test(
      `${path.name}: the split only moves forward, the primary takes only what was decided`,
      async () => {
        const started = Date.now();
        const { points, failed } = await enumerate(path);
        console.log(
          `${path.name}: ${points.writes} writes on the path, ${points.runs} runs (k1, k2) in ${((Date.now() - started) / 1000).toFixed(0)} s` +
            (points.unsteady.length
              ? `; crash points that moved between runs: ${points.unsteady.join(", ")}`
              : ""),
        );
        expect(failed.map((r) => r.failures.join("\n")).join("\n\n")).toBe("");
      },
      FILE_MS,
    );
  }
});
