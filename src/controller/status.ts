import { isDeepStrictEqual } from "node:util";
import type { Condition } from "../api/common.ts";
import type { RolloutStatus } from "../api/rollout.ts";
import { persist, type RolloutSnapshot } from "../machine/snapshot.ts";
import { conditionsOf, statusOf } from "../machine/view.ts";

export type ConditionInput = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

/** Keeps a condition's lastTransitionTime unless its status changed, as the API conventions ask. */
export function withTransitionTimes(
  previous: readonly Condition[] | undefined,
  next: readonly ConditionInput[],
  now: string,
  generation: number,
): Condition[] {
  return next.map((c) => {
    const before = previous?.find((p) => p.type === c.type);
    const lastTransitionTime =
      before && before.status === c.status ? before.lastTransitionTime : now;
    return { ...c, lastTransitionTime, observedGeneration: generation };
  });
}

export const specValid: ConditionInput = {
  type: "SpecValid",
  status: "True",
  reason: "Valid",
  message: "",
};

/** The whole status for a snapshot: the machine's view, the conditions with their times, the snapshot itself. */
export function rolloutStatus(
  snapshot: RolloutSnapshot,
  previous: RolloutStatus | undefined,
  generation: number,
  now: number,
  extra: ConditionInput[] = [],
): RolloutStatus {
  const conditions = [...conditionsOf(snapshot), specValid, ...extra];
  return {
    ...statusOf(snapshot),
    observedGeneration: generation,
    conditions: withTransitionTimes(
      previous?.conditions,
      conditions,
      new Date(now).toISOString(),
      generation,
    ),
    machine: persist(snapshot),
  };
}

/**
 * The machine's clock moves on every event; a status that differs only there is not worth a
 * write (an idle rollout must cost nothing), and the clock is only ever taken forward on restore.
 */
function comparable(status: RolloutStatus | undefined): unknown {
  if (!status) return undefined;
  const machine = status.machine as { context?: { now?: number } } | undefined;
  const context = machine?.context ? { ...machine.context, now: undefined } : undefined;
  return JSON.parse(
    JSON.stringify({ ...status, machine: machine ? { ...machine, context } : undefined }),
  );
}

export function statusDiffers(current: RolloutStatus | undefined, next: RolloutStatus): boolean {
  return !isDeepStrictEqual(comparable(current), comparable(next));
}
