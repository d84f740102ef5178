import { durationMs } from "../../api/common.ts";
import { primaryName } from "../../api/names.ts";
import { type Metric, RESULT_NAMES, type RolloutSpec, routingMatches } from "../../api/rollout.ts";
import type { CheckResult } from "../../machine/context.ts";
import type { AnalysisSubject } from "../analyst.ts";
import { formatNumber } from "../judge.ts";
import type { RequestCounts } from "../reading.ts";
import { judgeShare } from "./bound.ts";

/** The check result the weight's verification is reported under. */
export const WEIGHT_CHECK = RESULT_NAMES.weight;

/** Where the requests each Deployment served can be counted: the first of a rollout's metrics that can. */
export type RequestSource = { kind: "smi" } | { kind: "prometheus"; metric: Metric };

export type RequestCounter = (
  subject: AnalysisSubject,
  source: RequestSource,
  deployments: readonly string[],
) => Promise<RequestCounts>;

/** Whether a rollout's weight is verified, and from where; or why not (undefined: turned off). */
export type Verification =
  | { on: true; source: RequestSource }
  | { on: false; reason: string | undefined };

/** SMI TrafficMetrics, else a mesh's request series on Prometheus: what the rollout already reads. */
export function verificationOf(spec: RolloutSpec): Verification {
  const { analysis } = spec;
  if (!analysis.verifyWeight) return { on: false, reason: undefined };
  // An A/B rollout sends the canary the requests its headers match, whatever their share.
  if (routingMatches(spec.trafficRouting)?.length)
    return {
      on: false,
      reason: "an A/B rollout routes by header, so the canary's share of requests is no weight",
    };
  if (analysis.metrics.some((m) => m.provider.type === "smi"))
    return { on: true, source: { kind: "smi" } };
  const meshed = analysis.metrics.find((m) => m.provider.type === "prometheus" && m.provider.mesh);
  if (meshed) return { on: true, source: { kind: "prometheus", metric: meshed } };
  return {
    on: false,
    reason:
      "no metric counts requests per Deployment (an SMI metric, or a Prometheus metric with a mesh)",
  };
}

const describeSource = (source: RequestSource) =>
  source.kind === "smi"
    ? "SMI TrafficMetrics"
    : `the ${source.metric.provider.mesh} request series of metric ${source.metric.name}`;

/**
 * The weight's check: the canary's share of the requests canary and primary served over the last
 * window, against the weight the route has shown for at least that window. Outside the bound it
 * is inconclusive, which holds the step without blaming the canary: the mesh moved no traffic, or
 * not as asked. A window not yet all at this weight holds it too, so no step passes unverified.
 * Undefined when there is nothing to verify: turned off, no source, an A/B rollout, a blue/green
 * preview.
 */
export async function weightCheck(
  subject: AnalysisSubject,
  count: RequestCounter,
): Promise<CheckResult | undefined> {
  const verification = verificationOf(subject.spec);
  if (!verification.on) return undefined;
  const result = (outcome: CheckResult["outcome"], message: string): CheckResult => ({
    name: WEIGHT_CHECK,
    outcome,
    message,
  });
  const weight = subject.canaryWeight;
  // A blue/green preview serves what is sent to it through the canary Service, no share of the
  // apex's: until the switch there is no weight to verify.
  if (subject.spec.strategy === "blueGreen" && weight === 0) return undefined;
  const mirrored = subject.mirrorPercent ?? 0;
  if (mirrored > 0)
    return result(
      "passed",
      `${mirrored}% of requests are mirrored to the canary, whose count so includes copies: the share is not judged`,
    );
  const windowMs = durationMs(subject.spec.analysis.interval);
  const heldMs = subject.weightHeldMs;
  if (heldMs !== undefined && heldMs < windowMs)
    return result(
      "inconclusive",
      `the route has shown ${weight}% for ${formatNumber(heldMs / 1000)}s of the ${formatNumber(windowMs / 1000)}s window; the share is judged once a whole window has passed`,
    );
  const canary = subject.target;
  const counted = await count(subject, verification.source, [canary, primaryName(canary)]);
  if (!counted.ok)
    return result(
      "errored",
      `cannot count requests on ${describeSource(verification.source)}: ${counted.reason}`,
    );
  const [canaryRequests = 0, primaryRequests = 0] = counted.counts;
  const verdict = judgeShare(canaryRequests, primaryRequests, weight);
  if (verdict.observedPercent === undefined)
    return result("passed", `no requests in the window to judge the route's ${weight}% by`);
  // Prometheus extrapolates counters to the window's ends: whole requests read better.
  const said = `canary served ${verdict.observedPercent.toFixed(1)}% of ${Math.round(verdict.requests)} requests; the route says ${weight}%`;
  return {
    ...result(
      verdict.agrees ? "passed" : "inconclusive",
      verdict.agrees
        ? said
        : `${said} (${Math.ceil(verdict.low)} to ${Math.floor(verdict.high)} canary requests would agree)`,
    ),
    value: Number(verdict.observedPercent.toFixed(1)),
    requests: verdict.requests,
  };
}
