import { formatNumber } from "../analysis/judge.ts";
import type { CheckResult } from "../machine/context.ts";
import type { Entry, Timeline } from "./simulate.ts";

/** 12m30s, 1h5m, 0s: the units a plan is written in. */
export function formatDuration(ms: number): string {
  if (ms === 0) return "0s";
  const parts: string[] = [];
  let rest = ms;
  for (const [unit, size] of [
    ["h", 3_600_000],
    ["m", 60_000],
    ["s", 1000],
    ["ms", 1],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join("");
}

const OUTCOME: Record<CheckResult["outcome"], string> = {
  passed: "pass",
  failed: "fail",
  errored: "error",
  inconclusive: "no data",
};

function result(r: CheckResult): string {
  const value = r.value === undefined ? "" : ` ${formatNumber(r.value)}`;
  if (r.outcome === "passed") return `${r.name}${value}`;
  return `${r.name}${value} ${OUTCOME[r.outcome]}${r.message ? `: ${r.message}` : ""}`;
}

const worst = (results: CheckResult[]) =>
  (["failed", "errored", "inconclusive"] as const).find((o) =>
    results.some((r) => r.outcome === o),
  ) ?? "passed";

function describe(e: Entry): string {
  switch (e.kind) {
    case "event":
      return `${e.reason}: ${e.message}`;
    case "check":
      return `check ${e.n}: ${OUTCOME[worst(e.results)]} (${e.results.map(result).join("; ") || "no metrics"})`;
    case "traffic":
      return `route: canary ${e.canaryWeight}%${e.mirrorPercent ? `, ${e.mirrorPercent}% mirrored` : ""}`;
    case "action":
      return `person: ${e.action}`;
    case "phase":
      return `phase ${e.phase}`;
  }
}

function ending(t: Timeline): string {
  const after = formatDuration(t.end.at);
  if (t.end.held)
    return `held (${t.end.phase}) after ${after}: nothing more happens without a person`;
  if (t.end.phase === "Healthy" && !t.end.outcome) return `promoted after ${after}`;
  const why = t.end.outcome ? `: ${t.end.outcome.message}` : "";
  return `${t.end.phase === "Aborted" ? "aborted" : "rolled back"} after ${after}${why}`;
}

/** One line per entry, its time from the new revision's appearance first, then how it ended. */
export function renderTimeline(t: Timeline): string {
  const lines = t.entries.map((e) => `${`+${formatDuration(e.at)}`.padEnd(10)}${describe(e)}`);
  return `${[...lines, ending(t)].join("\n")}\n`;
}
