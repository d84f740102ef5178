import { isDeepStrictEqual } from "node:util";
import type { Context, RolloutEvent } from "./context.ts";
import type { Plan } from "./plan.ts";
import { steeringEvents } from "./steering.ts";

/** What one reconcile sees, whether read from a cluster's objects or simulated. */
export type Cluster = {
  plan: Plan;
  /** The target (the canary): its template's revision and whether it is ready at it. */
  target: { revision: string; ready: boolean };
  /** The primary's revision once it has one, and whether it is fully rolled out. */
  primary: { revision: string; ready: boolean } | undefined;
  traffic: { canaryWeight: number; mirrorPercent?: number } | undefined;
  annotations: Record<string, string>;
};

/**
 * What the cluster says, as machine events. Every one is idempotent, so reconciling twice feeds
 * the machine nothing new the second time.
 */
export function clusterEvents(context: Context, seen: Cluster, now: number): RolloutEvent[] {
  const events: RolloutEvent[] = [];
  if (!isDeepStrictEqual(seen.plan, context.plan))
    events.push({ type: "SPEC", plan: seen.plan, now });
  // The machine ignores the target's readiness unless it is the revision being rolled out.
  const { revision, ready } = seen.target;
  events.push({ type: "TARGET", revision, now });
  events.push({ type: "CANARY", revision, ready, now });
  if (seen.primary) events.push({ type: "PRIMARY", ...seen.primary, now });
  if (seen.traffic) events.push({ type: "TRAFFIC", ...seen.traffic, now });
  events.push(...steeringEvents(seen.annotations, context.applied, now));
  events.push({ type: "TICK", now });
  return events;
}
