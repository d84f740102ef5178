/**
 * The benchmark's reading of kube-apiserver's audit log (level Metadata, JSON lines): requests
 * by user and kind in a window, and each app's moments as the apiserver completed them.
 */
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { ADMIN_USER, FAKE_KUBELET_USER } from "../test/harness/control-plane.ts";

export const CONTROLLER_USER = "system:serviceaccount:fledge-system:fledge-controller";
const READS = new Set(["get", "list", "watch"]);

export const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? 0) : Number.NaN;
};
export const p50p99 = (xs: number[]): [number, number] => [quantile(xs, 0.5), quantile(xs, 0.99)];

/** One window's requests: the controller's by kind, reads and writes apart, and every user's. */
export type Tally = {
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
export type AppTimeline = {
  trigger?: number;
  /** Fledge's first patch of the target after the trigger: the canary scaled up. */
  scaled?: number;
  /** kube-controller-manager's updates of the target's status (the last before the first weight says ready). */
  statuses: number[];
  splits: { received: number; done: number }[];
  /** The fake kubelet's Ready status writes of the app's canary pods (not the primary's). */
  podsReady: number[];
};

/** The app an object belongs to ("app-0042" for app-0042-primary, app-0042-canary, its pods). */
export const appOf = (name: string) => /^app-\d+/.exec(name)?.[0];
const CANARY_POD = /^app-\d+-(?!primary-)[a-z0-9]+-[a-z0-9]+$/;

export type AuditWindow = {
  /** Epoch ms: requests received from here ... */
  from: number;
  /** ... until here count as "during"; from here to `end` as idle. */
  idleFrom: number;
  end: number;
  /** Where in the file to start reading: its size before `from` (the log only grows). */
  offset?: number;
  /** The apps triggered: the controller's requests naming any other app are counted apart. */
  triggered?: ReadonlySet<string>;
};

/**
 * The audit log read once: requests during the window (from until idleFrom) and idle (idleFrom
 * until end), each app's timeline during the window, and the controller's requests during it
 * that named an app that was not triggered.
 */
export async function readAudit(path: string, w: AuditWindow) {
  const during = tally();
  const idle = tally();
  const seen = new Set<string>();
  const apps = new Map<string, AppTimeline>();
  let untriggered = 0;
  const app = (name: string) => {
    const a = apps.get(name) ?? { statuses: [], splits: [], podsReady: [] };
    apps.set(name, a);
    return a;
  };
  const lines = createInterface({ input: createReadStream(path, { start: w.offset ?? 0 }) });
  for await (const line of lines) {
    if (!line) continue;
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
    if (at < w.from || at > w.end) continue;
    const mine = e.user.username === CONTROLLER_USER;
    if (at < w.idleFrom && e.stage === "ResponseComplete" && e.objectRef?.name) {
      const { resource, subresource, name } = e.objectRef;
      const done = Date.parse(e.stageTimestamp);
      const owner = appOf(name);
      if (mine && w.triggered && owner !== undefined && !w.triggered.has(owner)) untriggered++;
      if (mine && resource === "trafficsplits") app(name).splits.push({ received: at, done });
      else if (resource === "deployments" && e.verb === "patch") {
        if (e.user.username === ADMIN_USER) app(name).trigger = done;
        else if (mine && !name.endsWith("-primary")) app(name).scaled ??= done;
      } else if (resource === "deployments" && subresource === "status")
        app(name).statuses.push(done);
      else if (
        resource === "pods" &&
        subresource === "status" &&
        e.user.username === FAKE_KUBELET_USER &&
        CANARY_POD.test(name)
      )
        app(appOf(name) ?? name).podsReady.push(done);
    }
    if (seen.has(e.auditID)) continue;
    seen.add(e.auditID);
    const t = at < w.idleFrom ? during : idle;
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
  return { during, idle, apps, untriggered };
}

/**
 * Reaction (trigger to the first weight) and the held steps' lateness (20 -> 40 and 40 -> 60,
 * each due 10 s after the one before), from when each app's weight rose to 20, 40 and 60.
 */
export function stepTimes(rises: Iterable<number[]>, t0: number) {
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
 * written at 20, 40, 60 and 0), free of any watcher's lag; with Fledge's part of the reaction,
 * the apiserver's time over each split write, and the canary's scale-up (Fledge's patch) to its
 * pod's Ready status (the fake kubelet's write): kube-controller-manager's part and the kubelet's.
 */
export function apiserverTimes(apps: Map<string, AppTimeline>, t0: number) {
  const fledgeShare: number[] = [];
  const splitLatency: number[] = [];
  const scaledToPodReady: number[] = [];
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
    const scaled = a.scaled;
    if (scaled !== undefined) {
      const podReady = Math.min(...a.podsReady.filter((t) => t >= scaled));
      if (Number.isFinite(podReady)) scaledToPodReady.push((podReady - scaled) / 1000);
    }
  }
  return {
    ...stepTimes(rises, t0),
    fledgeShare: p50p99(fledgeShare),
    splitLatency: p50p99(splitLatency),
    scaledToPodReady: p50p99(scaledToPodReady),
  };
}

/** "kube-controller-manager 210, fledge-controller 95, ...": requests a second by user. */
export const userRates = (users: Map<string, number>, seconds: number) =>
  [...users]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(
      ([user, count]) =>
        `${user.replace(/^system:(serviceaccount:)?/, "")} ${(count / seconds).toFixed(0)}`,
    )
    .join(", ");

/** "3.0 patch trafficsplits, 2.0 update rollouts/status, ...": requests per canary by kind, most first. */
export const breakdown = (kinds: Map<string, number>, n: number) =>
  [...kinds]
    .sort((a, b) => b[1] - a[1])
    .map(([kind, count]) => `${(count / n).toFixed(2)} ${kind}`)
    .join(", ");
