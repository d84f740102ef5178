import type { CheckOutcome, CLASSIFICATIONS } from "../../api/rollout.ts";
import { mannWhitney, type Shift } from "./mann-whitney.ts";

export const DIRECTIONS = ["increase-is-bad", "decrease-is-bad", "either"] as const;
export type Direction = (typeof DIRECTIONS)[number];

/** Kayenta's classes: no difference that matters, higher, lower, or too little to say. */
export type Classification = (typeof CLASSIFICATIONS)[number];

/** One metric compared: the canary's samples and the primary's over the same window. */
export type Compared = {
  name: string;
  direction: Direction;
  /** How far from the primary's median (percent of it) a shift may go before it counts. */
  tolerancePercent: number;
  weight: number;
  canary: readonly number[];
  baseline: readonly number[];
};

export type MetricJudgement = {
  name: string;
  classification: Classification;
  /** Whether the classification is a bad one for this metric's direction. */
  bad: boolean;
  p?: number;
  /** The shift of canary from primary, relative to the primary's median (0.18 is +18%). */
  relative?: Shift;
};

export type Judgement = {
  /** The weighted share of metrics that pass, 0..100. */
  score: number;
  outcome: CheckOutcome;
  metrics: MetricJudgement[];
};

export type ScoreThresholds = { pass: number; marginal: number };

/** The significance a difference must reach before it counts. */
const ALPHA = 0.05;
/** Fewer samples a side than this say nothing. */
export const MIN_SAMPLES = 3;

const median = (values: readonly number[]) => {
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length / 2;
  return s.length % 2
    ? (s[Math.floor(mid)] as number)
    : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};

/**
 * A metric's class, as Kayenta's Mann-Whitney classifier decides it: High (or Low) when the
 * canary differs from the primary significantly and the estimated shift goes beyond the
 * tolerance on that side; Pass otherwise; NoData on too few samples either side. Shifts are judged relative to the primary's median, so a tolerance of
 * 10 reads as "10% worse"; a primary whose median is 0 is judged in absolute units.
 */
export function classify(m: Compared): MetricJudgement {
  const test =
    m.canary.length >= MIN_SAMPLES && m.baseline.length >= MIN_SAMPLES
      ? mannWhitney(m.canary, m.baseline)
      : undefined;
  if (!test) return { name: m.name, classification: "NoData", bad: false };
  const scale = Math.abs(median(m.baseline)) || 1;
  const relative = {
    estimate: test.shift.estimate / scale,
    lower: test.shift.lower / scale,
    upper: test.shift.upper / scale,
  };
  const tolerance = m.tolerancePercent / 100;
  const significant = test.p < ALPHA;
  const classification: Classification =
    significant && relative.estimate > tolerance
      ? "High"
      : significant && relative.estimate < -tolerance
        ? "Low"
        : "Pass";
  const bad =
    (classification === "High" && m.direction !== "decrease-is-bad") ||
    (classification === "Low" && m.direction !== "increase-is-bad");
  return { name: m.name, classification, bad, p: test.p, relative };
}

/**
 * The check's verdict from its compared metrics: the weighted share that pass is the score; at
 * or above `pass` it passes, below `marginal` it fails, between it is inconclusive. A metric
 * without data never passes: with one, a check that would pass is inconclusive instead.
 */
export function judgeComparison(
  metrics: readonly Compared[],
  thresholds: ScoreThresholds,
): Judgement {
  const judged = metrics.map(classify);
  const total = metrics.reduce((sum, m) => sum + m.weight, 0);
  const passing = metrics.reduce(
    (sum, m, i) => sum + (judged[i]?.classification !== "NoData" && !judged[i]?.bad ? m.weight : 0),
    0,
  );
  const score = total > 0 ? (100 * passing) / total : 0;
  const noData = judged.some((j) => j.classification === "NoData");
  const outcome: CheckOutcome =
    score < thresholds.marginal && !(noData && judged.every((j) => !j.bad))
      ? "failed"
      : score >= thresholds.pass && !noData
        ? "passed"
        : "inconclusive";
  return { score, outcome, metrics: judged };
}

/** A relative shift in whole percent, signed: 0.18 is "+18%". */
export const signedPercent = (x: number) => `${x >= 0 ? "+" : ""}${Math.round(x * 100)}%`;

/** A relative shift as people read it: "+18% (95% CI +12..+24%)". */
export function describeShift({ estimate, lower, upper }: Shift): string {
  return `${signedPercent(estimate)} (95% CI ${signedPercent(lower)}..${signedPercent(upper)})`;
}

/** How a judged metric reads in an Event: "request-duration-p50-ms: canary +18% (95% CI +12..+24%) vs primary". */
export function describeJudgement(j: MetricJudgement): string {
  if (!j.relative) return `${j.name}: too few samples to compare`;
  return `${j.name}: canary ${describeShift(j.relative)} vs primary`;
}
