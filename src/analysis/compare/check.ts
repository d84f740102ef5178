import { primaryName } from "../../api/names.ts";
import { type Metric, RESULT_NAMES } from "../../api/rollout.ts";
import type { CheckResult } from "../../machine/context.ts";
import type { AnalysisSubject } from "../analyst.ts";
import type { Sides } from "../prometheus.ts";
import { type Compared, describeJudgement, judgeComparison } from "./score.ts";

/** The result every compared metric of a rollout is judged under together. */
export const SCORE = RESULT_NAMES.score;

type SideReader = {
  sides(subject: AnalysisSubject, metric: Metric, primary: string): Promise<Sides>;
};

/**
 * One check of the canary against the primary: each compared metric's samples for both sides,
 * judged together into a score. A side that could not be read errors the check (never a failure).
 */
export async function compareCheck(
  reader: SideReader,
  subject: AnalysisSubject,
  metrics: readonly Metric[],
): Promise<CheckResult | undefined> {
  const compared = metrics.filter((m) => m.compare);
  if (compared.length === 0) return undefined;
  const primary = primaryName(subject.target);
  const read = await Promise.all(compared.map((m) => reader.sides(subject, m, primary)));
  const failed = read.findIndex((r) => !r.ok);
  const why = read[failed];
  if (why && !why.ok)
    return { name: SCORE, outcome: "errored", message: `${compared[failed]?.name}: ${why.reason}` };
  const inputs: Compared[] = compared.map((m, i) => {
    const sides = read[i] as Extract<Sides, { ok: true }>;
    const { direction, tolerance, weight } = m.compare as NonNullable<Metric["compare"]>;
    return { name: m.name, direction, tolerancePercent: tolerance, weight, ...sides };
  });
  const judgement = judgeComparison(inputs, subject.spec.analysis.scoreThresholds);
  const worth = judgement.metrics.filter((j) => j.bad || j.classification === "NoData");
  return {
    name: SCORE,
    outcome: judgement.outcome,
    value: Math.round(judgement.score * 100) / 100,
    ...(worth.length ? { message: worth.map(describeJudgement).join("; ") } : {}),
    compared: judgement.metrics,
  };
}
