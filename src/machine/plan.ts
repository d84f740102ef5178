import { z } from "zod";
import { durationMs } from "../api/common.ts";
import { type Parsed, parseAs } from "../api/parse.ts";
import { BlueGreen, type RolloutSpec } from "../api/rollout.ts";

export const PlanStep = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("setWeight"), weight: z.int().min(0).max(100) }),
  z.object({ kind: z.literal("setMirror"), percent: z.int().min(0).max(100) }),
  z.object({ kind: z.literal("pause"), durationMs: z.int().min(0).optional() }),
  z.object({ kind: z.literal("analysis"), passes: z.int().min(1) }),
]);
export type PlanStep = z.infer<typeof PlanStep>;

/**
 * How the new revision takes traffic: by the steps, or all at once after its preview, the old
 * version kept running for scaleDownDelayMs after the switch.
 */
export const Strategy = z.discriminatedUnion("kind", [
  z.object({ kind: z.literal("canary") }),
  z.object({ kind: z.literal("blueGreen"), scaleDownDelayMs: z.int().min(0) }),
]);
export type Strategy = z.infer<typeof Strategy>;

/**
 * What the machine needs of a Rollout's spec, in the units it computes with. It travels in the
 * machine's context so a snapshot restored from status is complete on its own.
 */
export const Plan = z.object({
  /** A plan from status written before blue/green is a canary's. */
  strategy: Strategy.default({ kind: "canary" }),
  steps: z.array(PlanStep),
  intervalMs: z.int().min(1),
  failureLimit: z.int().min(1),
  errorLimit: z.int().min(1),
  inconclusiveLimit: z.int().min(1),
  deadlineMs: z.int().min(1),
  /** Whether anything is checked at each interval (metrics or rollout webhooks). */
  checks: z.boolean(),
  preRolloutGate: z.boolean(),
  confirmPromotionGate: z.boolean(),
});
export type Plan = z.infer<typeof Plan>;

/** A step as people count it, "2/4", 1-based; "-" at rest. Events, status and the plugin all say this. */
export function stepText(index: number | undefined, count: number): string {
  return index === undefined ? "-" : `${Math.min(index + 1, count)}/${count}`;
}

function planStep(step: RolloutSpec["steps"][number]): PlanStep {
  if (step.setWeight !== undefined) return { kind: "setWeight", weight: step.setWeight };
  if (step.setMirror !== undefined) return { kind: "setMirror", percent: step.setMirror };
  if (step.pause !== undefined) {
    const { duration } = step.pause;
    return duration === undefined
      ? { kind: "pause" }
      : { kind: "pause", durationMs: durationMs(duration) };
  }
  if (step.analysis !== undefined) return { kind: "analysis", passes: step.analysis.passes };
  throw new Error("a step without an action passed schema validation");
}

/**
 * The plan for a spec, checked against the schema a restored snapshot must meet: a plan that
 * could be written to status but never read back (an interval of 0 from an older CRD) is refused
 * here, before the machine takes it.
 */
export function planFromSpec(spec: RolloutSpec): Parsed<Plan> {
  return parseAs(Plan, planOf(spec), "plan");
}

/**
 * A blue/green preview is the steps' own states at weight 0: a hold for its passing checks, and
 * without autoPromotion a pause that a person's promote (or resume) ends.
 */
function previewSteps(settings: BlueGreen, checks: boolean): PlanStep[] {
  return [
    ...(checks ? [{ kind: "analysis" as const, passes: settings.previewChecks }] : []),
    ...(settings.autoPromotion ? [] : [{ kind: "pause" as const }]),
  ];
}

function planOf(spec: RolloutSpec): Plan {
  const { analysis } = spec;
  const webhookTypes = new Set(analysis.webhooks.map((w) => w.type));
  const checks = analysis.metrics.length > 0 || webhookTypes.has("rollout");
  const blueGreen =
    spec.strategy === "blueGreen" ? BlueGreen.parse(spec.blueGreen ?? {}) : undefined;
  return {
    strategy: blueGreen
      ? { kind: "blueGreen", scaleDownDelayMs: blueGreen.scaleDownDelaySeconds * 1000 }
      : { kind: "canary" },
    steps: blueGreen ? previewSteps(blueGreen, checks) : spec.steps.map(planStep),
    intervalMs: durationMs(analysis.interval),
    failureLimit: analysis.failureLimit,
    errorLimit: analysis.errorLimit,
    inconclusiveLimit: analysis.inconclusiveLimit,
    deadlineMs: spec.progressDeadlineSeconds * 1000,
    checks,
    preRolloutGate: webhookTypes.has("pre-rollout"),
    confirmPromotionGate: webhookTypes.has("confirm-promotion"),
  };
}
