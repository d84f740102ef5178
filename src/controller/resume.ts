import type { RolloutSpec } from "../api/rollout.ts";
import { type Plan, planFromSpec } from "../machine/plan.ts";
import { type RolloutSnapshot, restore, start } from "../machine/snapshot.ts";

/**
 * What only the controller can judge: a reason for a condition (SpecValid unless it says
 * otherwise) and the message a person acts on.
 */
export type Problem = { type?: "SpecValid" | "Ready"; reason: string; message: string };

export type Resumed =
  | { ok: true; plan: Plan; snapshot: RolloutSnapshot }
  | { ok: false; problem: Problem };

/**
 * Where a reconcile takes up the rollout: the spec's plan and the machine as status left it (a
 * Rollout never seen before starts at the beginning). Either one unusable is a hold, never a
 * fresh start: starting afresh would take the target for the stable revision and send it all
 * traffic, while holding keeps the cluster as the last decision left it until a person mends it.
 */
export function resume(spec: RolloutSpec, stored: unknown, now: number): Resumed {
  const plan = planFromSpec(spec);
  if (!plan.ok)
    return {
      ok: false,
      problem: { type: "SpecValid", reason: "PlanInvalid", message: plan.error },
    };
  if (stored === undefined) return { ok: true, plan: plan.value, snapshot: start(plan.value, now) };
  const restored = restore(stored);
  if (!restored.ok)
    return {
      ok: false,
      problem: {
        type: "Ready",
        reason: "StatusUnreadable",
        message: `${restored.error}; holding traffic and workloads as they are. Remove status.machine to start again from the revision the primary serves`,
      },
    };
  return { ok: true, plan: plan.value, snapshot: restored.value };
}
