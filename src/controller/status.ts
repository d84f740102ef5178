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

/**
 * The status for a snapshot: the machine's view, the conditions with their times, the snapshot
 * itself; all but the history, which grows by extendHistory and is written apart.
 */
export function rolloutStatus(
  snapshot: RolloutSnapshot,
  previous: RolloutStatus | undefined,
  generation: number,
  now: number,
  extra: ConditionInput[] = [],
): RolloutStatus {
  const conditions = [...conditionsOf(snapshot), specValid, ...extra];
  const at = new Date(now).toISOString();
  const view = statusOf(snapshot);
  return {
    ...view,
    observedGeneration: generation,
    conditions: withTransitionTimes(previous?.conditions, conditions, at, generation),
    machine: persist(snapshot),
  };
}

/**
 * A decision recorded ahead of its effects: the machine moves on, while everything a person or
 * Argo CD reads (phase, message, conditions, weight) keeps describing the cluster as it still is,
 * until the writes that make the decision true have gone through.
 */
export function pendingStatus(
  snapshot: RolloutSnapshot,
  previous: RolloutStatus | undefined,
): RolloutStatus {
  return { ...previous, machine: persist(snapshot) };
}

/**
 * What the machine last saw of the cluster: every reconcile observes these afresh (the target's
 * revision, the revision the primary is ready at, the split's weight) before the machine decides
 * anything, so a stored copy is never what a decision rests on. When the route took its weight
 * is kept with them: it goes out with the decision that moved the weight, and a machine
 * restored without it sees the weight change when it next looks, later than it did, so a check
 * waits longer for a whole window at that weight, never less.
 */
const OBSERVED = [
  "targetRevision",
  "primaryReadyRevision",
  "primaryRevision",
  "trafficWeight",
  "trafficMirror",
  "trafficSince",
] as const;

/**
 * A status that differs only in the machine's clock (it moves on every event) or in what it
 * observed is not worth a write: an idle rollout must cost nothing, and a primary that starts
 * rolling out during promotion is no news. What the machine decides (its state, step, weight,
 * pauses, counts, times) is always written; the clock is only ever taken forward on restore.
 */
function comparable(status: RolloutStatus | undefined): unknown {
  if (!status) return undefined;
  const machine = status.machine as { context?: Record<string, unknown> } | undefined;
  const context: Record<string, unknown> | undefined = machine?.context
    ? { ...machine.context, now: undefined }
    : undefined;
  for (const field of OBSERVED) if (context) context[field] = undefined;
  return JSON.parse(
    JSON.stringify({ ...status, machine: machine ? { ...machine, context } : undefined }),
  );
}

export function statusDiffers(current: RolloutStatus | undefined, next: RolloutStatus): boolean {
  return !isDeepStrictEqual(comparable(current), comparable(next));
}
