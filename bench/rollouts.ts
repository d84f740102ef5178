/**
 * N rollouts at once on one controller, on the harness's real control plane: the scenario the
 * incumbents were measured on (issue 7). Prints a table and appends a run to bench/RESULTS.md.
 * It is a benchmark: it prints figures and asserts nothing.
 *
 *   npm run bench -- --n 10,100,300,1000 [--workers 64] [--leader-election] [--keep] [--no-record]
 */
import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  createReadStream,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../src/kube/client.ts";
import { createInformer } from "../src/kube/informer.ts";
import { silentLogger } from "../src/observability/logger.ts";
import { canaryPercent, type SplitView, splitView } from "../src/traffic/smi/router.ts";
import { KUBERNETES_VERSION } from "../test/harness/binaries.ts";
import { ADMIN_USER, startControlPlane } from "../test/harness/control-plane.ts";
import {
  deploymentManifest,
  ok,
  paths,
  repoRoot,
  rolloutManifest,
} from "../test/integration/support/cluster.ts";
import { controllerKubeconfig, startController } from "../test/integration/support/controller.ts";
import { markdownTable } from "./markdown-table.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "10,100,300,1000" },
    workers: { type: "string", default: "64" },
    "no-record": { type: "boolean", default: false },
    // Keeps each run's directory (audit log, controller log) for a closer look.
    keep: { type: "boolean", default: false },
    // deploy/'s default is one replica without election; this measures the hot-standby set-up.
    "leader-election": { type: "boolean", default: false },
  },
});

const NS = "bench";
const STEPS = [
  { setWeight: 20 },
  { pause: { duration: "10s" } },
  { setWeight: 40 },
  { pause: { duration: "10s" } },
  { setWeight: 60 },
  { pause: { duration: "10s" } },
];
/** The image's command (node, its flags, the script), read from the Dockerfile: the bench runs what ships. */
const [, ...IMAGE_NODE_OPTIONS] = JSON.parse(
  /^ENTRYPOINT (.*)$/m.exec(readFileSync(join(repoRoot, "Dockerfile"), "utf8"))?.[1] ?? "[]",
) as string[];
const IMAGE_ENTRY = IMAGE_NODE_OPTIONS.pop() ?? "dist/main.js";
const CONTROLLER_USER = "system:serviceaccount:fledge-system:fledge-controller";
const READS = new Set(["get", "list", "watch"]);

type Row = {
  n: number;
  wallS: number;
  reaction: [number, number];
  lateness: [number, number];
  perCanary: number;
  writesPerCanary: number;
  idlePerMin: number;
  leasesPerMin: number;
  watchRenewalsPerMin: number;
  rssMb: number;
  cpuS: number;
  /** Requests per canary by verb and resource over the rollout. */
  kinds: string;
  /** The same moves timed where they happened, at the apiserver: see apiserverTimes. */
  atApiserver: {
    reaction: [number, number];
    lateness: [number, number];
    /** Of the reaction, what Fledge took: trigger to canary scaled, canary ready to first weight. */
    fledgeShare: [number, number];
    /** How long the apiserver took over each split write, received to completed. */
    splitLatency: [number, number];
  };
  /** Every user's requests a second over the rollout, busiest first, to say what dominates. */
  users: string;
  /** How busy the machine's cores were from trigger to done (0..1), whoever used them. */
  machineBusy: number;
  /** The machine's 1-minute load average at the trigger and when all were promoted. */
  load: [number, number];
};

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0) : Number.NaN;
};

async function pool<T>(items: T[], width: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** One window's requests: the controller's by kind, reads and writes apart, and every user's. */
type Tally = {
  reads: number;
  writes: number;
  /** Lease renewals (leader election, a fixed 30 a minute), apart. */
  leases: number;
  /** Watch renewals (each informer's watch ends after 5-10 minutes, as client-go's does), apart. */
  watches: number;
  /** Requests by verb and resource ("patch trafficsplits"), to say what dominates. */
  kinds: Map<string, number>;
  users: Map<string, number>;
};
const tally = (): Tally => ({
  reads: 0,
  writes: 0,
  leases: 0,
  watches: 0,
  kinds: new Map(),
  users: new Map(),
});

/** One app's moments from the audit log, as the apiserver completed them. */
type AppTimeline = {
  trigger?: number;
  /** Fledge's first patch of the target after the trigger: the canary scaled up. */
  scaled?: number;
  /** kube-controller-manager's updates of the target's status (the last before the first weight says ready). */
  statuses: number[];
  splits: { received: number; done: number }[];
};

/**
 * The audit log read once, after the idle window: requests during the rollout (trigger until the
 * idle window starts) and during the idle window, and each app's timeline during the rollout.
 */
async function readAudit(path: string, t0: number, idleFrom: number, end: number) {
  const during = tally();
  const idle = tally();
  const seen = new Set<string>();
  const apps = new Map<string, AppTimeline>();
  const app = (name: string) => {
    const a = apps.get(name) ?? { statuses: [], splits: [] };
    apps.set(name, a);
    return a;
  };
  const lines = createInterface({ input: createReadStream(path) });
  for await (const line of lines) {
    const e = JSON.parse(line) as {
      auditID: string;
      stage: string;
      verb: string;
      user: { username: string };
      requestReceivedTimestamp: string;
      stageTimestamp: string;
      objectRef?: { resource?: string; subresource?: string; name?: string };
    };
    const at = Date.parse(e.requestReceivedTimestamp);
    if (at < t0 || at > end) continue;
    const mine = e.user.username === CONTROLLER_USER;
    if (at < idleFrom && e.stage === "ResponseComplete" && e.objectRef?.name) {
      const { resource, subresource, name } = e.objectRef;
      const done = Date.parse(e.stageTimestamp);
      if (mine && resource === "trafficsplits") app(name).splits.push({ received: at, done });
      else if (resource === "deployments" && e.verb === "patch") {
        if (e.user.username === ADMIN_USER) app(name).trigger = done;
        else if (mine && !name.endsWith("-primary")) app(name).scaled ??= done;
      } else if (resource === "deployments" && subresource === "status")
        app(name).statuses.push(done);
    }
    if (seen.has(e.auditID)) continue;
    seen.add(e.auditID);
    const t = at < idleFrom ? during : idle;
    t.users.set(e.user.username, (t.users.get(e.user.username) ?? 0) + 1);
    if (!mine) continue;
    const resource = [e.objectRef?.resource, e.objectRef?.subresource].filter(Boolean).join("/");
    const kind = `${e.verb} ${resource}`;
    t.kinds.set(kind, (t.kinds.get(kind) ?? 0) + 1);
    if (e.objectRef?.resource === "leases") t.leases++;
    else if (e.verb === "watch") t.watches++;
    else if (READS.has(e.verb)) t.reads++;
    else t.writes++;
  }
  return { during, idle, apps };
}

const p50p99 = (xs: number[]): [number, number] => [quantile(xs, 0.5), quantile(xs, 0.99)];

/**
 * Reaction (trigger to the first weight) and the held steps' lateness (20 -> 40 and 40 -> 60,
 * each due 10 s after the one before), from when each app's weight rose to 20, 40 and 60.
 */
function stepTimes(rises: Iterable<number[]>, t0: number) {
  const reactions: number[] = [];
  const late: number[] = [];
  for (const [w20, w40, w60] of rises) {
    if (w20 === undefined || w40 === undefined || w60 === undefined) continue;
    reactions.push((w20 - t0) / 1000);
    late.push((w40 - w20 - 10_000) / 1000, (w60 - w40 - 10_000) / 1000);
  }
  return { reaction: p50p99(reactions), lateness: p50p99(late) };
}

/**
 * The same, from when the apiserver completed each split write (after the trigger a split is
 * written at 20, 40, 60 and 0), free of any watcher's lag; with Fledge's part of the reaction
 * and the apiserver's time over each split write.
 */
function apiserverTimes(apps: Map<string, AppTimeline>, t0: number) {
  const fledgeShare: number[] = [];
  const splitLatency: number[] = [];
  const rises: number[][] = [];
  for (const a of apps.values()) {
    const splits = a.splits.sort((x, y) => x.done - y.done);
    for (const w of splits) splitLatency.push((w.done - w.received) / 1000);
    const done = splits.map((w) => w.done);
    rises.push(done);
    const [first] = done;
    const ready = first === undefined ? undefined : a.statuses.filter((t) => t < first).pop();
    if (
      first !== undefined &&
      a.trigger !== undefined &&
      a.scaled !== undefined &&
      ready !== undefined
    )
      fledgeShare.push((a.scaled - a.trigger + (first - ready)) / 1000);
  }
  return {
    ...stepTimes(rises, t0),
    fledgeShare: p50p99(fledgeShare),
    splitLatency: p50p99(splitLatency),
  };
}

/** "kube-controller-manager 210, fledge-controller 95, ...": requests a second by user. */
const userRates = (users: Map<string, number>, seconds: number) =>
  [...users]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(
      ([user, count]) =>
        `${user.replace(/^system:(serviceaccount:)?/, "")} ${(count / seconds).toFixed(0)}`,
    )
    .join(", ");

/** "3.0 patch trafficsplits, 2.0 update rollouts/status, ...": requests per canary by kind, most first. */
const breakdown = (kinds: Map<string, number>, n: number) =>
  [...kinds]
    .sort((a, b) => b[1] - a[1])
    .map(([kind, count]) => `${(count / n).toFixed(2)} ${kind}`)
    .join(", ");

/** Busy and total CPU time of the whole machine so far, in clock ticks, from /proc/stat. */
function machineTicks() {
  const [, ...fields] = readFileSync("/proc/stat", "utf8").split("\n")[0]?.split(/\s+/) ?? [];
  // user nice system idle iowait irq softirq steal; guest time is already inside user.
  const ticks = fields.slice(0, 8).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: total - idle, total };
}

function processStats(pid: number) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  return { rssMb: hwmKb / 1024, cpuS: ticks / 100 };
}

async function run(n: number): Promise<Row> {
  const dir = mkdtempSync(join(tmpdir(), "fledge-bench-"));
  const auditLog = join(dir, "audit.log");
  const plane = await startControlPlane({
    auditLog,
    controllerManagerFlags: [
      "--kube-api-qps=1000",
      "--kube-api-burst=2000",
      "--concurrent-deployment-syncs=50",
      "--concurrent-replicaset-syncs=50",
    ],
  });
  const admin = new KubeConfig();
  admin.loadFromFile(plane.kubeconfigPath);
  const client = new KubeClient(admin);
  const controller = startController(
    await controllerKubeconfig(dir, admin),
    dir,
    [
      `--workers=${values.workers}`,
      ...(values["leader-election"] ? [] : ["--lease-namespace=none"]),
    ],
    "info",
    IMAGE_ENTRY,
    IMAGE_NODE_OPTIONS,
  );
  try {
    ok(
      await client.create("/api/v1/namespaces", {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: NS },
      }),
      "namespace",
    );
    const apps = Array.from({ length: n }, (_, i) => `app-${String(i).padStart(4, "0")}`);

    const phases = new Map<string, { phase?: string; stableRevision?: string }>();
    type RolloutView = {
      metadata: { name: string; namespace: string };
      status: { phase?: string; stableRevision?: string };
    };
    // Only what the bench reads: the observer shares the two cores with what it measures.
    const rollouts = createInformer<RolloutView>({
      kubeConfig: admin,
      path: paths.rollouts(NS),
      transform: (raw) => {
        const r = raw as RolloutView;
        const { phase, stableRevision } = r.status ?? {};
        return { metadata: r.metadata, status: { phase, stableRevision } };
      },
      logger: silentLogger,
    });
    rollouts.onEvent((_t, r) => phases.set(r.metadata.name, r.status ?? {}));
    await rollouts.start();

    await pool(apps, 32, async (name) => {
      ok(
        await client.create(paths.deployments(NS), deploymentManifest(NS, name, 1)),
        `deployment ${name}`,
      );
      ok(
        await client.create(
          paths.rollouts(NS),
          rolloutManifest(NS, name, {
            targetRef: { name },
            service: { port: 80, targetPort: 9898 },
            steps: STEPS,
          }),
        ),
        `rollout ${name}`,
      );
    });
    const until = async (what: string, done: () => boolean, timeoutMs: number) => {
      const deadline = Date.now() + timeoutMs;
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    await until(
      "every rollout Healthy",
      () => apps.every((a) => phases.get(a)?.phase === "Healthy"),
      600_000,
    );
    const initial = new Map(apps.map((a) => [a, phases.get(a)?.stableRevision]));
    await new Promise((r) => setTimeout(r, 5_000));

    const changes = new Map<string, { weight: number; at: number }[]>();
    const splits = createInformer<SplitView>({
      kubeConfig: admin,
      path: paths.splits(NS),
      transform: splitView,
      logger: silentLogger,
    });
    splits.onEvent((_t, s) => {
      const w = canaryPercent(s, `${s.metadata.name}-canary`);
      const list = changes.get(s.metadata.name) ?? [];
      if (list[list.length - 1]?.weight !== w) list.push({ weight: w, at: Date.now() });
      changes.set(s.metadata.name, list);
    });
    await splits.start();
    for (const list of changes.values()) list.splice(0, list.length);

    const before = processStats(controller.process.pid as number);
    const machineBefore = machineTicks();
    const loadAtTrigger = loadavg()[0] ?? 0;
    const t0 = Date.now();
    await Promise.all(
      apps.map((name) =>
        client.patch(`${paths.deployments(NS)}/${name}`, {
          spec: { template: { metadata: { annotations: { "bench/trigger": String(t0) } } } },
        }),
      ),
    );
    await until(
      "every rollout promoted",
      () =>
        apps.every(
          (a) =>
            phases.get(a)?.phase === "Healthy" && phases.get(a)?.stableRevision !== initial.get(a),
        ),
      900_000,
    );
    const t1 = Date.now();
    const machineDone = machineTicks();
    const loadAtDone = loadavg()[0] ?? 0;

    // The times each app's weight rose, as the observer's watch saw them.
    const watched = stepTimes(
      apps.map((a) =>
        (changes.get(a) ?? [])
          .filter((c, i, list) => c.weight > (list[i - 1]?.weight ?? 0))
          .map((c) => c.at),
      ),
      t0,
    );

    await new Promise((r) => setTimeout(r, 5_000));
    const idleFrom = Date.now();
    await new Promise((r) => setTimeout(r, 60_000));
    const after = processStats(controller.process.pid as number);
    // The rollout's requests run until the idle window: Events still queued at t1 count too.
    const { during, idle, apps: timelines } = await readAudit(auditLog, t0, idleFrom, Date.now());
    await splits.stop();
    await rollouts.stop();
    return {
      n,
      wallS: (t1 - t0) / 1000,
      ...watched,
      perCanary: (during.reads + during.writes + during.watches) / n,
      writesPerCanary: during.writes / n,
      idlePerMin: idle.reads + idle.writes,
      leasesPerMin: idle.leases,
      watchRenewalsPerMin: idle.watches,
      rssMb: after.rssMb,
      cpuS: after.cpuS - before.cpuS,
      kinds: breakdown(during.kinds, n),
      atApiserver: apiserverTimes(timelines, t0),
      users: userRates(during.users, (idleFrom - t0) / 1000),
      machineBusy:
        (machineDone.busy - machineBefore.busy) / (machineDone.total - machineBefore.total),
      load: [loadAtTrigger, loadAtDone],
    };
  } finally {
    await controller.kill();
    await plane.stop();
    if (values.keep) process.stdout.write(`bench: kept ${dir}\n`);
    else if (statSync(dir, { throwIfNoEntry: false }))
      rmSync(dir, { recursive: true, force: true });
  }
}

const header = [
  "N",
  "wall s (ideal 30)",
  "reaction p50/p99 s",
  "step lateness p50/p99 s",
  "requests per canary (writes)",
  "idle requests/min (+ Lease / watch renewals)",
  "peak RSS MB",
  "CPU s (trigger to done)",
  "load avg at trigger / done",
];
const pair = ([a, b]: [number, number]) => `${a.toFixed(2)} / ${b.toFixed(2)}`;
const cells = (r: Row) => [
  String(r.n),
  r.wallS.toFixed(1),
  pair(r.reaction),
  pair(r.lateness),
  `${r.perCanary.toFixed(1)} (${r.writesPerCanary.toFixed(1)})`,
  `${r.idlePerMin} (+${r.leasesPerMin} / +${r.watchRenewalsPerMin})`,
  r.rssMb.toFixed(0),
  r.cpuS.toFixed(1),
  r.load.map((l) => l.toFixed(2)).join(" / "),
];
const kindsOf = (r: Row) =>
  [
    `- N = ${r.n}, requests per canary by kind: ${r.kinds}`,
    `- N = ${r.n}, timed at the apiserver (audit log, no watcher's lag): reaction p50/p99 ${pair(r.atApiserver.reaction)} s, of which Fledge's part (trigger to canary scaled, plus canary ready to first weight) ${pair(r.atApiserver.fledgeShare)} s; step lateness p50/p99 ${pair(r.atApiserver.lateness)} s, the apiserver taking ${pair(r.atApiserver.splitLatency)} s over each split write`,
    `- N = ${r.n}, requests a second over the rollout by user: ${r.users}; the machine's cores ${(r.machineBusy * 100).toFixed(0)}% busy from trigger to done`,
  ].join("\n");

// The controller runs as the image runs it, compiled: type stripping at start-up costs ~25 MB.
execFileSync(join(repoRoot, "node_modules/.bin/tsc"), ["-p", "tsconfig.build.json"], {
  cwd: repoRoot,
  stdio: "inherit",
});
const rows: Row[] = [];
for (const n of values.n.split(",").map(Number)) {
  process.stdout.write(`bench: N = ${n} ...\n`);
  const row = await run(n);
  rows.push(row);
  process.stdout.write(`${markdownTable(header, [cells(row)])}\n${kindsOf(row)}\n`);
}
const table = `${markdownTable(header, rows.map(cells))}\n\n${rows.map(kindsOf).join("\n")}`;
process.stdout.write(`\n${table}\n`);
if (!values["no-record"]) {
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
  appendFileSync(
    join(import.meta.dirname, "RESULTS.md"),
    `\n## Run of ${new Date().toISOString()}\n\nMachine: ${machine}. Node ${process.version}, Kubernetes ${KUBERNETES_VERSION}, ${values.workers} workers, leader election ${values["leader-election"] ? "on" : "off"}.\n\n${table}\n`,
  );
}
