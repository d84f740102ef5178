/**
 * The top functions by self time in a V8 .cpuprofile (what node --cpu-prof writes), optionally
 * within a window of the profile (ms after it started), e.g. the wave of a bench run.
 *
 *   node bench/cpuprofile.ts FILE.cpuprofile [--from-ms 12000] [--to-ms 60000] [--top 15]
 *     [--inclusive]   (functions in files by inclusive time, instead of all by self time)
 */
import { readFileSync } from "node:fs";
import { relative } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

type CpuProfile = {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string; lineNumber: number };
    hitCount?: number;
    children?: number[];
  }[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
};

export type SelfTime = { name: string; where: string; ms: number; share: number };
type Window = { fromMs?: number; toMs?: number };

const repoRoot = fileURLToPath(new URL("../", import.meta.url));

/** Where a frame is: a repo-relative file:line (1-based), or V8's pseudo-frames' name. */
function whereOf({ url, lineNumber }: { url: string; lineNumber: number }) {
  if (!url) return "(native)";
  const path = url.startsWith("file://") ? relative(repoRoot, fileURLToPath(url)) : url;
  return `${path}:${lineNumber + 1}`;
}

type Frame = CpuProfile["nodes"][number]["callFrame"];
type Tallies = Map<string, { name: string; where: string; us: number }>;

/** Each sample in the window: its node's id and the µs it stood for (the delta that follows it). */
function eachSample(profile: CpuProfile, window: Window, visit: (id: number, us: number) => void) {
  const from = window.fromMs ?? 0;
  const to = window.toMs ?? Number.POSITIVE_INFINITY;
  let t = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if (t / 1000 >= from && t / 1000 <= to)
      visit(profile.samples[i] as number, profile.timeDeltas[i + 1] ?? 0);
  }
}

/** Adds us to the frame's function (frames of one function at one place are one); its key. */
function add(tallies: Tallies, frame: Frame, us: number): string {
  const name = frame.functionName || "(anonymous)";
  const where = whereOf(frame);
  const key = `${name} ${where}`;
  const entry = tallies.get(key) ?? { name, where, us: 0 };
  entry.us += us;
  tallies.set(key, entry);
  return key;
}

const ranked = (tallies: Tallies, busyUs: number): SelfTime[] =>
  [...tallies.values()]
    .sort((a, b) => b.us - a.us)
    .map(({ name, where, us }) => ({
      name,
      where,
      ms: us / 1000,
      share: busyUs ? us / busyUs : 0,
    }));

/**
 * Self time per function, busiest first, and the profile's total and idle time in the window,
 * in ms.
 */
export function selfTimes(
  profile: CpuProfile,
  window: Window = {},
): { top: SelfTime[]; totalMs: number; idleMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self: Tallies = new Map();
  let totalUs = 0;
  let idleUs = 0;
  eachSample(profile, window, (id, us) => {
    const node = byId.get(id);
    if (!node) return;
    totalUs += us;
    if (node.callFrame.functionName === "(idle)") idleUs += us;
    else add(self, node.callFrame, us);
  });
  return { top: ranked(self, totalUs - idleUs), totalMs: totalUs / 1000, idleMs: idleUs / 1000 };
}

/**
 * Inclusive time per JavaScript function in files (the project's and its modules', not node's
 * internals or V8's pseudo-frames): each sample counts once for every distinct function on its
 * stack, so a reconcile's callees add up under it.
 */
export function inclusiveTimes(profile: CpuProfile, window: Window = {}): SelfTime[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const total: Tallies = new Map();
  let busyUs = 0;
  eachSample(profile, window, (sample, us) => {
    if (byId.get(sample)?.callFrame.functionName === "(idle)") return;
    busyUs += us;
    const counted = new Set<string>();
    for (let id: number | undefined = sample; id !== undefined; id = parent.get(id)) {
      const frame = byId.get(id)?.callFrame;
      if (!frame?.url.startsWith("file://")) continue;
      const key = `${frame.functionName || "(anonymous)"} ${whereOf(frame)}`;
      if (!counted.has(key)) counted.add(add(total, frame, us));
    }
  });
  return ranked(total, busyUs);
}

const line = (f: SelfTime, i: number) =>
  `${i + 1}. ${(f.ms / 1000).toFixed(2)} s (${(f.share * 100).toFixed(1)}%) \`${f.name}\` ${f.where}`;

/** A Markdown-ready list of the top functions, one a line. */
export function summary(file: string, window: Window, count = 15) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const { top, totalMs, idleMs } = selfTimes(profile, window);
  const head = `${((totalMs - idleMs) / 1000).toFixed(1)} s busy of ${(totalMs / 1000).toFixed(1)} s profiled`;
  return { head, lines: top.slice(0, count).map(line) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      "from-ms": { type: "string" },
      "to-ms": { type: "string" },
      top: { type: "string", default: "15" },
      // Lists JavaScript functions in files by inclusive time instead.
      inclusive: { type: "boolean", default: false },
    },
  });
  const [file] = positionals;
  if (!file) {
    process.stderr.write(
      "usage: node bench/cpuprofile.ts FILE.cpuprofile [--from-ms N] [--to-ms N]\n",
    );
    process.exit(2);
  }
  const num = (v: string | undefined) => (v === undefined ? undefined : Number(v));
  const window = { fromMs: num(values["from-ms"]), toMs: num(values["to-ms"]) };
  const { head, lines } = summary(file, window, Number(values.top));
  const shown = values.inclusive
    ? inclusiveTimes(JSON.parse(readFileSync(file, "utf8")) as CpuProfile, window)
        .slice(0, Number(values.top))
        .map(line)
    : lines;
  process.stdout.write(`${head}${values.inclusive ? ", inclusive" : ""}\n${shown.join("\n")}\n`);
}
