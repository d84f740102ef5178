import type { Condition } from "../../api/common.ts";
import type { RolloutSpec } from "../../api/rollout.ts";
import type { CheckResult } from "../../machine/context.ts";
import { verificationOf, WEIGHT_CHECK } from "./verify.ts";

/** The condition the weight's verification is shown under. */
export const WEIGHT_CONDITION = "WeightObserved";

export type WeightCondition = Pick<Condition, "status" | "reason" | "message">;

/**
 * What the last check found of the weight: True when the canary's share agreed with it, False
 * when a share was observed that did not, Unknown when none was judged (and why). Undefined when
 * verification is off, or on and no check has run yet.
 */
export function weightCondition(
  spec: RolloutSpec,
  results: readonly CheckResult[],
): WeightCondition | undefined {
  const verification = verificationOf(spec);
  if (!verification.on) {
    const { reason } = verification;
    // Without metrics there is nothing analysed, and so nothing worth saying about the weight.
    if (reason === undefined || spec.analysis.metrics.length === 0) return undefined;
    return { status: "Unknown", reason: "WeightNotVerified", message: reason };
  }
  const checked = results.find((r) => r.name === WEIGHT_CHECK);
  if (!checked) return undefined;
  const message = checked.message ?? "";
  if (checked.value === undefined)
    return { status: "Unknown", reason: "WeightNotVerified", message };
  return checked.outcome === "passed"
    ? { status: "True", reason: "WeightObserved", message }
    : { status: "False", reason: "WeightNotObserved", message };
}
