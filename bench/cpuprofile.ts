/**
 * The top functions by self time in a V8 .cpuprofile (what node --cpu-prof writes), optionally
 * within a window of the profile (ms after it started), e.g. the wave of a bench run.
 *
 *   node bench/cpuprofile.ts FILE.cpuprofile [--from-ms 12000] [--to-ms 60000] [--top 15]
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

const repoRoot = fileURLToPath(new URL("../", import.meta.url));

/** Where a frame is: a repo-relative file:line (1-based), or V8's pseudo-frames' name. */
function whereOf({ url, lineNumber }: { url: string; lineNumber: number }) {
  if (!url) return "(native)";
  const path = url.startsWith("file://") ? relative(repoRoot, fileURLToPath(url)) : url;
  return `${path}:${lineNumber + 1}`;
}

/**
 * Self time per function (frames of one function at one place added up), busiest first, and
 * the profile's total and idle time in the window, in ms.
 */
export function selfTimes(
  profile: CpuProfile,
  window: { fromMs?: number; toMs?: number } = {},
): { top: SelfTime[]; totalMs: number; idleMs: number } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const from = window.fromMs ?? 0;
  const to = window.toMs ?? Number.POSITIVE_INFINITY;
  const self = new Map<string, { name: string; where: string; us: number }>();
  let t = 0;
  let totalUs = 0;
  let idleUs = 0;
  // Each sample's time is the delta that follows it (the interval it stood for).
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    const ms = t / 1000;
    if (ms < from || ms > to) continue;
    const us = profile.timeDeltas[i + 1] ?? 0;
    const node = byId.get(profile.samples[i] as number);
    if (!node) continue;
    totalUs += us;
    const name = node.callFrame.functionName || "(anonymous)";
    if (name === "(idle)") {
      idleUs += us;
      continue;
    }
    const where = whereOf(node.callFrame);
    const key = `${name} ${where}`;
    const entry = self.get(key) ?? { name, where, us: 0 };
    entry.us += us;
    self.set(key, entry);
  }
  const busyUs = totalUs - idleUs;
  const top = [...self.values()]
    .sort((a, b) => b.us - a.us)
    .map(({ name, where, us }) => ({
      name,
      where,
      ms: us / 1000,
      share: busyUs ? us / busyUs : 0,
    }));
  return { top, totalMs: totalUs / 1000, idleMs: idleUs / 1000 };
}

/** A Markdown-ready list of the top functions, one a line. */
export function summary(file: string, window: { fromMs?: number; toMs?: number }, count = 15) {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const { top, totalMs, idleMs } = selfTimes(profile, window);
  const head = `${((totalMs - idleMs) / 1000).toFixed(1)} s busy of ${(totalMs / 1000).toFixed(1)} s profiled`;
  const lines = top
    .slice(0, count)
    .map(
      (f, i) =>
        `${i + 1}. ${(f.ms / 1000).toFixed(2)} s (${(f.share * 100).toFixed(1)}%) \`${f.name}\` ${f.where}`,
    );
  return { head, lines };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      "from-ms": { type: "string" },
      "to-ms": { type: "string" },
      top: { type: "string", default: "15" },
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
  const { head, lines } = summary(
    file,
    { fromMs: num(values["from-ms"]), toMs: num(values["to-ms"]) },
    Number(values.top),
  );
  process.stdout.write(`${head}\n${lines.join("\n")}\n`);
}
