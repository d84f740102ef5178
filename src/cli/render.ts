import { describeShift, signedPercent } from "../analysis/compare/score.ts";
import { RESULT_NAMES, type RolloutStatus, type TemplateSource } from "../api/rollout.ts";
import { stepText } from "../machine/plan.ts";

/** Which template, at which generation, judged a check: "ClusterAnalysisTemplate/latency@3". */
const templateOf = (t: TemplateSource | undefined) =>
  t ? `${t.kind}/${t.name}@${t.generation}` : "";

type SpecMetric = {
  name: string;
  thresholdRange?: { min?: number; max?: number };
  compare?: { direction: string; tolerance: number };
};

/** A Rollout as the CLI reads it: whatever the apiserver returned, status unparsed beyond its schema. */
export type CliRollout = {
  metadata: {
    name: string;
    namespace: string;
    creationTimestamp?: string;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec?: {
    strategy?: string;
    steps?: unknown[];
    analysis?: {
      metrics?: SpecMetric[];
      scoreThresholds?: { pass: number; marginal: number };
    };
  };
  status?: RolloutStatus;
};

export type CliEvent = {
  metadata?: { name?: string; resourceVersion?: string };
  type?: string;
  reason?: string;
  message?: string;
  lastTimestamp?: string;
  eventTime?: string;
  count?: number;
};

export type Paint = {
  bold(s: string): string;
  red(s: string): string;
  green(s: string): string;
  yellow(s: string): string;
  dim(s: string): string;
};

const ansi = (code: number) => (s: string) => `\u001b[${code}m${s}\u001b[0m`;
export const COLOURS: Paint = {
  bold: ansi(1),
  red: ansi(31),
  green: ansi(32),
  yellow: ansi(33),
  dim: ansi(2),
};
export const PLAIN: Paint = {
  bold: (s) => s,
  red: (s) => s,
  green: (s) => s,
  yellow: (s) => s,
  dim: (s) => s,
};

export function weightBar(weight: number, width = 20): string {
  const filled = Math.round((Math.max(0, Math.min(100, weight)) / 100) * width);
  return `[${"#".repeat(filled)}${".".repeat(width - filled)}]`;
}

function phaseColour(phase: string | undefined, paint: Paint): string {
  const p = phase ?? "Unknown";
  if (p === "Healthy") return paint.green(p);
  if (p === "Failed" || p === "Aborted" || p === "RollingBack") return paint.red(p);
  if (p === "Paused") return paint.yellow(p);
  return paint.bold(p);
}

export function age(since: string | undefined, now: number): string {
  if (!since) return "-";
  const s = Math.max(0, Math.floor((now - Date.parse(since)) / 1000));
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.floor(s / 60)}m`;
  if (s < 172_800) return `${Math.floor(s / 3600)}h`;
  return `${Math.floor(s / 86_400)}d`;
}

// A status written before status.step existed still shows its step the same way.
const stepOf = (r: CliRollout) =>
  r.status?.step ??
  stepText(r.status?.currentStepIndex, r.status?.stepCount ?? r.spec?.steps?.length ?? 0);

function threshold(range: { min?: number; max?: number } | undefined): string {
  if (!range) return "";
  if (range.min !== undefined && range.max !== undefined) return `${range.min}..${range.max}`;
  return range.min !== undefined ? `>= ${range.min}` : `<= ${range.max}`;
}

type MetricRow = {
  name: string;
  value: string;
  criterion: string;
  verdict: string;
  good: boolean;
  bad: boolean;
  detail?: string | undefined;
};

const rounded = (n: number | undefined) =>
  n === undefined ? "-" : String(Math.round(n * 100) / 100);

type Judged = NonNullable<NonNullable<RolloutStatus["metrics"]>[number]["compared"]>[number];
type Checked = NonNullable<RolloutStatus["metrics"]>[number];

const comparedRow = (name: string, criterion: string, judged: Judged | undefined): MetricRow => {
  const verdict = judged?.classification ?? "not compared yet";
  return {
    name,
    value: judged?.relative ? signedPercent(judged.relative.estimate) : "-",
    criterion,
    verdict,
    good: verdict === "Pass",
    bad: judged?.bad ?? false,
    detail: judged?.relative
      ? `${describeShift(judged.relative)}, p=${judged.p?.toPrecision(2)}`
      : undefined,
  };
};

const checkedRow = (name: string, criterion: string, last: Checked | undefined): MetricRow => {
  const outcome = last?.outcome ?? "not checked yet";
  return {
    name,
    value: rounded(last?.value),
    criterion,
    verdict: outcome,
    good: outcome === "passed",
    bad: outcome === "failed",
    detail: last?.message,
  };
};

/**
 * A line per metric: a thresholded one with its last value against its range; a compared one
 * with its class and shift from the last score, and the score itself against its thresholds.
 * A template's metrics are not in the Rollout's spec: the checks' status names them, as it does
 * the check of the weight the mesh was seen to serve.
 */
function metricRows(r: CliRollout): MetricRow[] {
  const status = r.status?.metrics ?? [];
  const score = status.find((x) => x.name === RESULT_NAMES.score);
  const specified = r.spec?.analysis?.metrics ?? [];
  const own = new Set(specified.map((m) => m.name));
  const rows = specified.map((m) =>
    m.compare
      ? comparedRow(
          m.name,
          `(vs primary, ${m.compare.direction} beyond ${m.compare.tolerance}%)`,
          score?.compared?.find((c) => c.name === m.name),
        )
      : checkedRow(
          m.name,
          `(threshold ${threshold(m.thresholdRange)})`,
          status.find((x) => x.name === m.name),
        ),
  );
  for (const m of status) {
    if (own.has(m.name) || m.name === RESULT_NAMES.score) continue;
    if (m.template) rows.push(checkedRow(m.name, `(${templateOf(m.template)})`, m));
    else if (m.name === RESULT_NAMES.weight)
      rows.push(checkedRow(m.name, "(the route's weight)", m));
  }
  for (const c of score?.compared ?? []) {
    if (!own.has(c.name) && c.template)
      rows.push(comparedRow(c.name, `(vs primary, ${templateOf(c.template)})`, c));
  }
  if (!score && !specified.some((m) => m.compare)) return rows;
  const t = r.spec?.analysis?.scoreThresholds ?? { pass: 95, marginal: 75 };
  return [
    ...rows,
    {
      ...checkedRow(RESULT_NAMES.score, `(pass >= ${t.pass}, fail < ${t.marginal})`, score),
      detail: undefined,
    },
  ];
}

/** `kubectl fledge get rollout NAME`: everything a person needs to judge a rollout, on one screen. */
export function renderRollout(
  r: CliRollout,
  events: CliEvent[],
  paint: Paint,
  now: number,
): string {
  const s = r.status ?? {};
  const weight = s.canaryWeight ?? 0;
  const lines = [
    `${paint.bold("Name:")}       ${r.metadata.namespace}/${r.metadata.name}`,
    `${paint.bold("Phase:")}      ${phaseColour(s.phase, paint)}${s.message ? `  ${paint.dim(s.message)}` : ""}`,
    r.spec?.strategy === "blueGreen"
      ? `${paint.bold("Strategy:")}   blue/green (step ${stepOf(r)} of the preview)`
      : `${paint.bold("Step:")}       ${stepOf(r)}`,
    `${paint.bold("Weight:")}     ${weightBar(weight)} ${weight}% canary${s.mirrorPercent ? `, ${s.mirrorPercent}% of requests mirrored to it` : ""}`,
    `${paint.bold("Stable:")}     ${s.stableRevision ?? "-"}`,
    `${paint.bold("Canary:")}     ${s.canaryRevision ?? "-"}`,
    `${paint.bold("Checks:")}     ${s.failedChecks ?? 0} failed, ${s.erroredChecks ?? 0} errored, ${s.inconclusiveChecks ?? 0} inconclusive`,
  ];
  for (const p of s.pauseReasons ?? []) {
    lines.push(
      `${paint.bold("Paused:")}     ${paint.yellow(p.reason)} since ${p.since}${p.until ? ` until ${p.until}` : ""}${p.message ? ` (${p.message})` : ""}`,
    );
  }
  const metrics = metricRows(r);
  if (metrics.length > 0) {
    lines.push(paint.bold("Metrics:"));
    const width = Math.max(...metrics.map((m) => m.criterion.length));
    for (const m of metrics) {
      const coloured = m.good
        ? paint.green(m.verdict)
        : m.bad
          ? paint.red(m.verdict)
          : paint.yellow(m.verdict);
      lines.push(
        `  ${m.name.padEnd(26)} ${m.value.padStart(8)}  ${m.criterion.padEnd(width)}  ${coloured}${m.detail ? `  ${paint.dim(m.detail)}` : ""}`,
      );
    }
  }
  const recent = events.slice(-8);
  if (recent.length > 0) {
    lines.push(paint.bold("Events:"));
    for (const e of recent) {
      const when = age(e.lastTimestamp ?? e.eventTime, now);
      const reason = e.type === "Warning" ? paint.red(e.reason ?? "") : (e.reason ?? "");
      lines.push(
        `  ${when.padStart(4)}  ${reason.padEnd(e.type === "Warning" ? 34 : 24)}  ${e.message ?? ""}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
}

/** `kubectl fledge list`: one line per Rollout. */
export function renderList(rollouts: CliRollout[], allNamespaces: boolean, now: number): string {
  const rows = rollouts.map((r) => [
    ...(allNamespaces ? [r.metadata.namespace] : []),
    r.metadata.name,
    r.status?.phase ?? "-",
    stepOf(r),
    `${r.status?.canaryWeight ?? 0}%`,
    age(r.metadata.creationTimestamp, now),
  ]);
  const header = [
    ...(allNamespaces ? ["NAMESPACE"] : []),
    "NAME",
    "PHASE",
    "STEP",
    "WEIGHT",
    "AGE",
  ];
  const table = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? "").length)));
  return `${table
    .map((row) =>
      row
        .map((c, i) => c.padEnd((widths[i] ?? 0) + 3))
        .join("")
        .trimEnd(),
    )
    .join("\n")}\n`;
}

/** A rollout is finished for --watch once nothing is in flight. */
export const finished = (r: CliRollout) =>
  ["Healthy", "Failed", "Aborted"].includes(r.status?.phase ?? "");

const OUTCOME_WIDTH = 6;

/** `kubectl fledge check`: one line per item, its reason beside it. */
export function renderChecks(
  items: { name: string; outcome: string; detail: string }[],
  paint: Paint,
): string {
  const width = Math.max(...items.map((i) => i.name.length));
  const mark = (o: string) => {
    const padded = o.padEnd(OUTCOME_WIDTH);
    return o === "ok" ? paint.green(padded) : o === "fail" ? paint.red(padded) : paint.dim(padded);
  };
  return items.map((i) => `${mark(i.outcome)}${i.name.padEnd(width + 2)}${i.detail}\n`).join("");
}

/** One line for where a rollout is now: what a steering command prints after acting. */
export function renderSummary(r: CliRollout, paint: Paint): string {
  const s = r.status ?? {};
  return [
    phaseColour(s.phase, paint),
    `step ${stepOf(r)}`,
    `canary ${s.canaryWeight ?? 0}%`,
    ...(s.message ? [paint.dim(s.message)] : []),
  ].join("  ");
}
