/**
 * N apps on one controller, on the harness's real control plane, and a wave of W of them rolled
 * out at once while the rest stay idle (issues 7 and 16): the scenario the incumbents were
 * measured on when W = N. Between setting the apps up and the wave the controller is restarted,
 * which measures its start-up over N Healthy Rollouts. Prints a table and appends a run to
 * bench/RESULTS.md. It is a benchmark: it prints figures and asserts nothing.
 *
 *   npm run bench -- --n 10,100,300,1000 [--wave W] [--workers 64] [--setup-parallel 128]
 *     [--replicas 1,3 [--shards 12]] [--cpu-prof [--cpu-prof-dir DIR]] [--leader-election]
 *     [--keep] [--no-record]
 *
 * With --replicas, each N is set up once and rolled out once per replica count: one replica as
 * deploy/ runs it, or R replicas sharing --shards shards (deploy/sharded), on the same apps.
 */
import { execFileSync } from "node:child_process";
import {
  appendFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from "node:fs";
import { cpus, loadavg, tmpdir, totalmem } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../src/kube/client.ts";
import { createInformer } from "../src/kube/informer.ts";
import { silentLogger } from "../src/observability/logger.ts";
import { canaryPercent, type SplitView, splitView } from "../src/traffic/smi/router.ts";
import { KUBERNETES_VERSION } from "../test/harness/binaries.ts";
import { freePorts, startControlPlane } from "../test/harness/control-plane.ts";
import { onTermination } from "../test/harness/process.ts";
import { createApp, ok, paths, repoRoot } from "../test/integration/support/cluster.ts";
import {
  controllerKubeconfig,
  type RunningController,
  startController,
} from "../test/integration/support/controller.ts";
import { apiserverTimes, breakdown, p50p99, readAudit, stepTimes, userRates } from "./audit.ts";
import { cacheBytes, describeCacheBytes } from "./cache-bytes.ts";
import { summary } from "./cpuprofile.ts";
import { markdownTable } from "./markdown-table.ts";

const { values } = parseArgs({
  options: {
    n: { type: "string", default: "10,100,300,1000" },
    // How many of the N apps the wave triggers (evenly spread); default all N.
    wave: { type: "string" },
    workers: { type: "string", default: "64" },
    // Apps created at once while setting up (outside the measured window).
    "setup-parallel": { type: "string", default: "128" },
    // Profiles the restarted controller (start-up, wave, idle); the top functions of the wave go in the run.
    "cpu-prof": { type: "boolean", default: false },
    "cpu-prof-dir": { type: "string" },
    "no-record": { type: "boolean", default: false },
    // Keeps each run's directory (audit log, controller log) for a closer look.
    keep: { type: "boolean", default: false },
    // deploy/'s default is one replica without election; this measures the hot-standby set-up.
    "leader-election": { type: "boolean", default: false },
    // Replica counts to roll the same apps out with, one wave each; above 1 they share shards.
    replicas: { type: "string", default: "1" },
    shards: { type: "string", default: "12" },
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
const RECONCILED_ONCE = "every Rollout reconciled once since start";
const TOOK_SHARD = "took a shard: its Rollouts read afresh and queued";
const cpuProfDir = values["cpu-prof"]
  ? (values["cpu-prof-dir"] ??
    join(
      repoRoot,
      "test-artefacts",
      `bench-cpu-prof-${new Date().toISOString().replace(/[:.]/g, "-")}`,
    ))
  : undefined;

type Row = {
  n: number;
  /** Controller replicas (sharing the shards when more than one). */
  replicas: number;
  /** Replicas that exited on their own from start-up to the end of the idle minute, and how. */
  exited: string[];
  /** Apps triggered; per-canary figures divide by it. */
  wave: number;
  /** Creating the N apps until all are Healthy (outside the measured window). */
  setupS: number;
  startup: {
    /** Process start to /readyz 200, and to every Rollout reconciled once. */
    readyS: number;
    reconciledS: number;
    /** The controller's writes from process start until 5 s after the last first reconcile. */
    writes: number;
    writeKinds: string;
    /** Requests of every kind in that time (the lists and watches of start-up). */
    requests: string;
    /** VmRSS when every Rollout had been reconciled once, MB (the largest replica's). */
    rssMb: number;
  };
  /** Bytes per Rollout of each cache, from bench/cache-bytes.ts. */
  caches: string;
  /** VmRSS with all N idle, just before the trigger, MB (the largest replica's). */
  idleRssMb: number;
  wallS: number;
  reaction: [number, number];
  lateness: [number, number];
  perCanary: number;
  writesPerCanary: number;
  /** The controller's requests naming an untriggered app, from trigger to the idle window. */
  untriggeredRequests: number;
  idlePerMin: number;
  leasesPerMin: number;
  watchRenewalsPerMin: number;
  rssMb: number;
  cpuS: number;
  /** Requests per canary by verb and resource over the rollout. */
  kinds: string;
  /** The same moves timed where they happened, at the apiserver: see apiserverTimes. */
  atApiserver: ReturnType<typeof apiserverTimes>;
  /** The fake kubelet's own lag during the wave: its watch's first sight of a pod to its Ready write. */
  kubelet: { lag: [number, number]; wait: [number, number]; pods: number; queuePeak: number };
  /** Every user's requests a second over the rollout, busiest first, to say what dominates. */
  users: string;
  /** How busy the machine's cores were from trigger to done (0..1), whoever used them. */
  machineBusy: number;
  /** The machine's 1-minute load average at the trigger and when all were promoted. */
  load: [number, number];
  /** The top functions by self time in the controller from trigger to done, with --cpu-prof. */
  profile?: { file: string; head: string; lines: string[] };
};

async function pool<T>(items: T[], width: number, work: (item: T) => Promise<unknown>) {
  let next = 0;
  await Promise.all(
    Array.from({ length: width }, async () => {
      while (next < items.length) await work(items[next++] as T);
    }),
  );
}

/** Busy and total CPU time of the whole machine so far, in clock ticks, from /proc/stat. */
function machineTicks() {
  const [, ...fields] = readFileSync("/proc/stat", "utf8").split("\n")[0]?.split(/\s+/) ?? [];
  // user nice system idle iowait irq softirq steal; guest time is already inside user.
  const ticks = fields.slice(0, 8).map(Number);
  const total = ticks.reduce((a, b) => a + b, 0);
  const idle = (ticks[3] ?? 0) + (ticks[4] ?? 0);
  return { busy: total - idle, total };
}

/** The process's memory and CPU so far; a replica that has exited counts as what it last showed. */
const lastStats = new Map<number, { rssMb: number; nowMb: number; cpuS: number }>();
function processStats(pid: number) {
  if (!statSync(`/proc/${pid}`, { throwIfNoEntry: false }))
    return lastStats.get(pid) ?? { rssMb: 0, nowMb: 0, cpuS: 0 };
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const hwmKb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.split(" ") ?? [];
  const ticks = Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  const stats = { rssMb: hwmKb / 1024, nowMb: rssKb / 1024, cpuS: ticks / 100 };
  lastStats.set(pid, stats);
  return stats;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/**
 * Waits for done(), and gives up only once progress() has stood still for stallMs: a check for a
 * hang, not for speed (a set-up of 10,000 apps takes nearly two hours on two cores).
 */
const until = async (
  what: string,
  done: () => boolean,
  stallMs: number,
  progress: () => number | string = () => 0,
) => {
  let last = progress();
  let movedAt = Date.now();
  while (!done()) {
    const now = progress();
    if (now !== last) {
      last = now;
      movedAt = Date.now();
    }
    if (Date.now() - movedAt > stallMs)
      throw new Error(`bench: timed out waiting for ${what}: no progress in ${stallMs / 1000} s`);
    await sleep(100);
  }
};
const fileSize = (path: string) => statSync(path, { throwIfNoEntry: false })?.size ?? 0;

/**
 * Epoch ms of the `count`-th log line with this message across the controllers (pino's ISO
 * `time`). It listens beside the pipes to the log files and never pauses a stream: a paused pipe
 * fills, and the controller's next log line then blocks its event loop (stdout to a pipe is
 * synchronous).
 */
function logLines(controllers: RunningController[], msg: string, count = 1): Promise<number> {
  return new Promise((resolve, reject) => {
    let seen = 0;
    const stops: (() => void)[] = [];
    const done = (settle: () => void) => {
      for (const stop of stops) stop();
      settle();
    };
    for (const controller of controllers) {
      const out = controller.process.stdout as NodeJS.ReadableStream;
      let partial = "";
      const onData = (chunk: Buffer | string) => {
        const lines = (partial + chunk.toString()).split("\n");
        partial = lines.pop() ?? "";
        for (const line of lines) {
          if (!line.includes(`"msg":"${msg}"`) || ++seen < count) continue;
          const time = (JSON.parse(line) as { time?: string }).time;
          return done(() => resolve(time ? Date.parse(time) : Date.now()));
        }
      };
      const onEnd = () =>
        done(() => reject(new Error(`bench: a controller exited before "${msg}" x${count}`)));
      out.on("data", onData);
      out.once("end", onEnd);
      stops.push(() => {
        out.off("data", onData);
        out.off("end", onEnd);
      });
    }
  });
}

/** One replica as deploy/ runs it, or several that share the shards as deploy/sharded runs them. */
type Fleet = { members: RunningController[]; kill(): Promise<void> };

async function run(n: number, wave: number, replicaCounts: number[]): Promise<Row[]> {
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
  const kubeconfig = await controllerKubeconfig(dir, admin);
  const shards = Number(values.shards);
  const argsFor = (replicas: number) => [
    `--workers=${values.workers}`,
    ...(replicas > 1
      ? [`--shards=${shards}`]
      : values["leader-election"]
        ? []
        : ["--lease-namespace=none"]),
  ];
  const startFleet = (replicas: number, ports: number[] = [], nodeOptions: string[] = []) => {
    const members = Array.from({ length: replicas }, (_, i) =>
      startController(
        kubeconfig,
        dir,
        [...argsFor(replicas), ...(ports[i] ? [`--metrics-port=${ports[i]}`] : [])],
        "info",
        IMAGE_ENTRY,
        [...IMAGE_NODE_OPTIONS, ...nodeOptions],
        replicas > 1 ? { POD_NAME: `bench-${i}` } : {},
      ),
    );
    return { members, kill: async () => void (await Promise.all(members.map((m) => m.kill()))) };
  };
  let fleet: Fleet = startFleet(replicaCounts[0] ?? 1);
  // Ctrl-C during a long set-up stops the controllers too, not only the control plane.
  const unregister = onTermination({
    sync: () => {
      for (const m of fleet.members) m.process.kill("SIGKILL");
    },
    async: () => fleet.kill(),
  });
  try {
    ok(
      await client.create("/api/v1/namespaces", {
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: NS },
      }),
      "namespace",
    );
    const digits = Math.max(4, String(n - 1).length);
    const apps = Array.from({ length: n }, (_, i) => `app-${String(i).padStart(digits, "0")}`);
    // Spread over the N, so that triggered and idle apps sit side by side in every cache.
    const waveApps = Array.from(
      { length: wave },
      (_, k) => apps[Math.floor((k * n) / wave)] as string,
    );
    const triggered = new Set(waveApps);

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

    // Set-up, outside the measured window: wide parallelism, and a count every 10 s on stderr.
    const setupFrom = Date.now();
    const healthy = () => apps.filter((a) => phases.get(a)?.phase === "Healthy").length;
    let created = 0;
    const progress = setInterval(() => {
      const s = ((Date.now() - setupFrom) / 1000).toFixed(0);
      process.stderr.write(`bench: set-up ${s} s: ${created}/${n} created, ${healthy()} Healthy\n`);
    }, 10_000);
    try {
      await pool(apps, Number(values["setup-parallel"]), async (name) => {
        await createApp(client, NS, name, STEPS);
        created++;
      });
      // Progress is any Rollout's phase moving: the first pass over 10,000 new ones takes most
      // of an hour before the first of them comes back to be Healthy.
      const moved = () => healthy() + [...phases.values()].filter((p) => p.phase).length;
      await until("every rollout Healthy", () => healthy() === n, 600_000, moved);
    } finally {
      clearInterval(progress);
    }
    const setupS = (Date.now() - setupFrom) / 1000;
    process.stdout.write(
      `bench: set-up of ${n} apps took ${setupS.toFixed(1)} s (${((setupS * 100) / n).toFixed(1)} s per 100)\n`,
    );
    await sleep(5_000);
    // Outside every window: the bytes per Rollout of each cache, weighed in this process.
    const caches = await cacheBytes(client, NS, n).then(describeCacheBytes, (e: unknown) => {
      process.stderr.write(`bench: could not weigh the caches: ${String(e)}\n`);
      return "(not measured)";
    });

    const changes = new Map<string, { weight: number; at: number }[]>();
    const splits = createInformer<SplitView>({
      kubeConfig: admin,
      path: paths.splits(NS),
      transform: splitView,
      logger: silentLogger,
    });
    splits.onEvent((_t, s) => {
      if (!triggered.has(s.metadata.name)) return;
      const w = canaryPercent(s, `${s.metadata.name}-canary`);
      const list = changes.get(s.metadata.name) ?? [];
      if (list[list.length - 1]?.weight !== w) list.push({ weight: w, at: Date.now() });
      changes.set(s.metadata.name, list);
    });
    await splits.start();

    /** Start-up over the N Healthy Rollouts, then the wave, with this many replicas. */
    const measure = async (replicas: number): Promise<Row> => {
      const initial = new Map(apps.map((a) => [a, phases.get(a)?.stableRevision]));
      // Start-up: the controllers stopped (SIGTERM) and started again over N Healthy Rollouts.
      await fleet.kill();
      const ports = await freePorts(replicas);
      const startupOffset = fileSize(auditLog);
      const profiled = cpuProfDir !== undefined && replicas === 1;
      if (cpuProfDir && profiled) mkdirSync(cpuProfDir, { recursive: true });
      const spawnedAt = Date.now();
      fleet = startFleet(
        replicas,
        ports,
        cpuProfDir && profiled ? ["--cpu-prof", `--cpu-prof-dir=${cpuProfDir}`] : [],
      );
      // Sharded replicas reconcile only their own shards' Rollouts, and say so per shard taken.
      const reconciled =
        replicas > 1
          ? logLines(fleet.members, TOOK_SHARD, shards)
          : logLines(fleet.members, RECONCILED_ONCE);
      // Awaited below, after /readyz; a controller that dies first must not crash the bench unhandled.
      reconciled.catch(() => {});
      let readyAt = 0;
      while (!readyAt) {
        for (const m of fleet.members)
          if (m.process.exitCode !== null || m.process.signalCode !== null)
            throw new Error(`bench: a restarted controller exited; see ${m.logFile}`);
        const statuses = await Promise.all(
          ports.map((port) =>
            fetch(`http://127.0.0.1:${port}/readyz`).then(
              (r) => r.status,
              () => 0,
            ),
          ),
        );
        if (statuses.every((st) => st === 200)) readyAt = Date.now();
        else if (Date.now() - spawnedAt > 600_000) throw new Error("bench: /readyz never 200");
        else await sleep(50);
      }
      const reconciledAt = await reconciled;
      const pids = fleet.members.map((m) => m.process.pid as number);
      const stats = () => pids.map(processStats);
      const largest = (xs: number[]) => Math.max(...xs);
      const cpu = () => stats().reduce((sum, x) => sum + x.cpuS, 0);
      const startupRss = largest(stats().map((x) => x.nowMb));
      await sleep(5_000);
      const startupEnd = Date.now();
      const startup = await readAudit(auditLog, {
        from: spawnedAt,
        idleFrom: startupEnd,
        end: startupEnd,
        offset: startupOffset,
      });

      for (const list of changes.values()) list.splice(0, list.length);
      await sleep(2_000);

      const idleRssMb = largest(stats().map((x) => x.nowMb));
      const cpuBefore = cpu();
      const machineBefore = machineTicks();
      const loadAtTrigger = loadavg()[0] ?? 0;
      const kubelet = plane.kubeletLag();
      kubelet.resetPeak();
      const waveOffset = fileSize(auditLog);
      const t0 = Date.now();
      await Promise.all(
        waveApps.map((name) =>
          client.patch(`${paths.deployments(NS)}/${name}`, {
            spec: { template: { metadata: { annotations: { "bench/trigger": String(t0) } } } },
          }),
        ),
      );
      // At N = 10,000 the first promotion came 12 minutes after the trigger and the last waited
      // minutes on kube-controller-manager: only a wave whose phases stand still has hung.
      await until(
        "every triggered rollout promoted",
        () =>
          waveApps.every(
            (a) =>
              phases.get(a)?.phase === "Healthy" &&
              phases.get(a)?.stableRevision !== initial.get(a),
          ),
        600_000,
        () => waveApps.map((a) => phases.get(a)?.phase).join(),
      );
      const t1 = Date.now();
      const machineDone = machineTicks();
      const loadAtDone = loadavg()[0] ?? 0;
      const cpuDone = cpu();
      const readied = kubelet.readied.filter((r) => r.at >= t0 && r.at <= t1);
      const queuePeak = kubelet.queuePeak;

      // The times each app's weight rose, as the observer's watch saw them.
      const watched = stepTimes(
        waveApps.map((a) =>
          (changes.get(a) ?? [])
            .filter((c, i, list) => c.weight > (list[i - 1]?.weight ?? 0))
            .map((c) => c.at),
        ),
        t0,
      );

      await sleep(5_000);
      const idleFrom = Date.now();
      await sleep(60_000);
      const rssMb = largest(stats().map((x) => x.rssMb));
      // The rollout's requests run until the idle window: Events still queued at t1 count too.
      const {
        during,
        idle,
        apps: timelines,
        untriggered,
      } = await readAudit(auditLog, {
        from: t0,
        idleFrom,
        end: Date.now(),
        offset: waveOffset,
        triggered,
      });
      const exited = fleet.members
        .filter((m) => m.process.exitCode !== null || m.process.signalCode !== null)
        .map((m) => `${m.logFile.split("/").pop()}: ${m.process.exitCode ?? m.process.signalCode}`);
      // SIGTERM: the controllers stop cleanly, and write the CPU profile if it was asked for.
      await fleet.kill();
      let profile: Row["profile"];
      if (cpuProfDir && profiled) {
        const file = readdirSync(cpuProfDir)
          .filter((f) => f.endsWith(".cpuprofile"))
          .map((f) => join(cpuProfDir, f))
          .sort((x, y) => statSync(y).mtimeMs - statSync(x).mtimeMs)[0];
        if (file)
          profile = {
            file,
            ...summary(file, { fromMs: t0 - spawnedAt, toMs: t1 - spawnedAt }),
          };
      }
      return {
        n,
        replicas,
        exited,
        wave,
        setupS,
        startup: {
          readyS: (readyAt - spawnedAt) / 1000,
          reconciledS: (reconciledAt - spawnedAt) / 1000,
          writes: startup.during.writes,
          writeKinds: breakdown(
            new Map([...startup.during.kinds].filter(([k]) => !/^(get|list|watch) /.test(k))),
            1,
          ),
          requests: breakdown(startup.during.kinds, 1),
          rssMb: startupRss,
        },
        caches,
        idleRssMb,
        wallS: (t1 - t0) / 1000,
        ...watched,
        perCanary: (during.reads + during.writes + during.watches) / wave,
        writesPerCanary: during.writes / wave,
        untriggeredRequests: untriggered,
        idlePerMin: idle.reads + idle.writes,
        leasesPerMin: idle.leases,
        watchRenewalsPerMin: idle.watches,
        rssMb,
        cpuS: cpuDone - cpuBefore,
        kinds: breakdown(during.kinds, wave),
        atApiserver: apiserverTimes(timelines, t0),
        kubelet: {
          lag: p50p99(readied.map((r) => r.lagMs / 1000)),
          wait: p50p99(readied.map((r) => r.waitMs / 1000)),
          pods: readied.length,
          queuePeak,
        },
        users: userRates(during.users, (idleFrom - t0) / 1000),
        machineBusy:
          (machineDone.busy - machineBefore.busy) / (machineDone.total - machineBefore.total),
        load: [loadAtTrigger, loadAtDone],
        profile,
      };
    };
    const rows: Row[] = [];
    for (const replicas of replicaCounts) {
      process.stdout.write(`bench: N = ${n}, wave ${wave}, ${replicas} replica(s) ...\n`);
      rows.push(await measure(replicas));
    }
    await splits.stop();
    await rollouts.stop();
    return rows;
  } finally {
    await fleet.kill();
    unregister();
    await plane.stop();
    if (values.keep) process.stdout.write(`bench: kept ${dir}\n`);
    else if (statSync(dir, { throwIfNoEntry: false }))
      rmSync(dir, { recursive: true, force: true });
  }
}

const header = [
  "N",
  "replicas",
  "wave",
  "set-up s",
  "start-up s: ready / all reconciled (writes)",
  "wall s (ideal 30)",
  "reaction p50/p99 s",
  "step lateness p50/p99 s",
  "Fledge's part p50/p99 s",
  "requests per canary (writes)",
  "untriggered apps' requests",
  "idle requests/min (+ Lease / watch renewals)",
  "RSS MB: idle / peak (largest replica)",
  "CPU s (per canary)",
  "fake kubelet lag p50/p99 s",
  "load avg at trigger / done",
];
const pair = ([a, b]: [number, number]) => `${a.toFixed(2)} / ${b.toFixed(2)}`;
const cells = (r: Row) => [
  String(r.n),
  `${r.replicas > 1 ? `${r.replicas} (${values.shards} shards)` : "1"}${r.exited.length ? `, ${r.exited.length} exited` : ""}`,
  String(r.wave),
  r.setupS.toFixed(0),
  `${r.startup.readyS.toFixed(1)} / ${r.startup.reconciledS.toFixed(1)} (${r.startup.writes})`,
  r.wallS.toFixed(1),
  pair(r.reaction),
  pair(r.lateness),
  pair(r.atApiserver.fledgeShare),
  `${r.perCanary.toFixed(1)} (${r.writesPerCanary.toFixed(1)})`,
  String(r.untriggeredRequests),
  `${r.idlePerMin} (+${r.leasesPerMin} / +${r.watchRenewalsPerMin})`,
  `${r.idleRssMb.toFixed(0)} / ${r.rssMb.toFixed(0)}`,
  `${r.cpuS.toFixed(1)} (${(r.cpuS / r.wave).toFixed(3)})`,
  pair(r.kubelet.lag),
  r.load.map((l) => l.toFixed(2)).join(" / "),
];
const kindsOf = (r: Row) => {
  const at = `- N = ${r.n}, ${r.replicas > 1 ? `${r.replicas} replicas` : "1 replica"}, wave ${r.wave}`;
  return [
    ...(r.exited.length
      ? [`${at}, replicas that exited on their own: ${r.exited.join(", ")}`]
      : []),
    `${at}, requests per canary by kind: ${r.kinds}`,
    `${at}, timed at the apiserver (audit log, no watcher's lag): reaction p50/p99 ${pair(r.atApiserver.reaction)} s, of which Fledge's part (trigger to canary scaled, plus canary ready to first weight) ${pair(r.atApiserver.fledgeShare)} s; step lateness p50/p99 ${pair(r.atApiserver.lateness)} s, the apiserver taking ${pair(r.atApiserver.splitLatency)} s over each split write`,
    `${at}, canary scaled up (Fledge's patch) to its pod's Ready status written (fake kubelet) p50/p99 ${pair(r.atApiserver.scaledToPodReady)} s, of which the fake kubelet's own (its watch's first sight of the pod to its Ready write, ${r.kubelet.pods} pods) ${pair(r.kubelet.lag)} s, of that waiting in its queue ${pair(r.kubelet.wait)} s, at most ${r.kubelet.queuePeak} pods waiting for it`,
    `${at}, start-up (SIGTERM, then new processes over ${r.n} Healthy Rollouts): /readyz 200 after ${r.startup.readyS.toFixed(1)} s, ${r.replicas > 1 ? `${values.shards} shards taken (each one's Rollouts read afresh and queued)` : "every Rollout reconciled once"} after ${r.startup.reconciledS.toFixed(1)} s, RSS then ${r.startup.rssMb.toFixed(0)} MB; ${r.startup.writes} writes${r.startup.writes ? ` (${r.startup.writeKinds})` : ""}; its requests: ${r.startup.requests}`,
    `${at}, heap bytes per Rollout of each cache (the controller's transforms of the listed objects, weighed in the bench after a GC): ${r.caches}`,
    `${at}, requests a second over the rollout by user: ${r.users}; the machine's cores ${(r.machineBusy * 100).toFixed(0)}% busy from trigger to done`,
    ...(r.profile
      ? [
          `${at}, CPU profile of the controller from trigger to done (${r.profile.head}; ${r.profile.file.replace(`${repoRoot}`, "")}), top functions by self time:`,
          ...r.profile.lines.map((l) => `  ${l}`),
        ]
      : []),
  ].join("\n");
};

// The controller runs as the image runs it, compiled: type stripping at start-up costs ~25 MB.
execFileSync(join(repoRoot, "node_modules/.bin/tsc"), ["-p", "tsconfig.build.json"], {
  cwd: repoRoot,
  stdio: "inherit",
});
const rows: Row[] = [];
const replicaCounts = values.replicas.split(",").map(Number);
for (const n of values.n.split(",").map(Number)) {
  const wave = Math.min(n, Number(values.wave ?? n));
  const runRows = await run(n, wave, replicaCounts);
  rows.push(...runRows);
  process.stdout.write(
    `${markdownTable(header, runRows.map(cells))}\n${runRows.map(kindsOf).join("\n")}\n`,
  );
}
const table = `${markdownTable(header, rows.map(cells))}\n\n${rows.map(kindsOf).join("\n")}`;
process.stdout.write(`\n${table}\n`);
if (!values["no-record"]) {
  const machine = `${cpus().length} cores (${cpus()[0]?.model ?? "?"}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB`;
  appendFileSync(
    join(import.meta.dirname, "RESULTS.md"),
    `\n## Run of ${new Date().toISOString()}\n\nMachine: ${machine}. Node ${process.version}, Kubernetes ${KUBERNETES_VERSION}, ${values.workers} workers, leader election ${values["leader-election"] ? "on" : "off"}, set-up ${values["setup-parallel"]} apps at once${cpuProfDir ? ", controller CPU-profiled" : ""}.\n\n${table}\n`,
  );
}
