import { isDeepStrictEqual } from "node:util";
import { canaryReady, type DeploymentView, primaryRevision } from "../kube/deployment.ts";
import type { Context, RolloutEvent } from "../machine/context.ts";
import type { Plan } from "../machine/plan.ts";
import { steeringEvents } from "../machine/steering.ts";
import type { Traffic } from "../traffic/router.ts";

export type Observed = {
  plan: Plan;
  target: DeploymentView;
  primary: DeploymentView | undefined;
  traffic: Traffic | undefined;
  annotations: Record<string, string>;
};

/**
 * What the cluster says, as machine events. Every one is idempotent, so reconciling twice feeds
 * the machine nothing new the second time.
 */
export function observations(context: Context, seen: Observed, now: number): RolloutEvent[] {
  const events: RolloutEvent[] = [];
  if (!isDeepStrictEqual(seen.plan, context.plan))
    events.push({ type: "SPEC", plan: seen.plan, now });
  // The target is the canary; its readiness is about its own current template, and the machine
  // ignores it unless that is the revision being rolled out.
  const revision = seen.target.templateHash;
  events.push({ type: "TARGET", revision, now });
  events.push({ type: "CANARY", revision, ready: canaryReady(seen.target, revision), now });
  const primaryAt = seen.primary && primaryRevision(seen.primary);
  if (seen.primary && primaryAt)
    events.push({ type: "PRIMARY", revision: primaryAt, ready: seen.primary.rolledOut, now });
  if (seen.traffic) events.push({ type: "TRAFFIC", ...seen.traffic, now });
  events.push(...steeringEvents(seen.annotations, context.applied, now));
  events.push({ type: "TICK", now });
  return events;
}
