import { canaryReady, type DeploymentView, primaryRevision } from "../kube/deployment.ts";
import type { Context, RolloutEvent } from "../machine/context.ts";
import { type Cluster, clusterEvents } from "../machine/observed.ts";
import type { Plan } from "../machine/plan.ts";
import type { Traffic } from "../traffic/router.ts";

export type Observed = {
  plan: Plan;
  target: DeploymentView;
  primary: DeploymentView | undefined;
  traffic: Traffic | undefined;
  annotations: Record<string, string>;
};

/** What the cluster's objects say, reduced to what the machine hears (simulate builds the same by hand). */
export function observations(context: Context, seen: Observed, now: number): RolloutEvent[] {
  // The target is the canary; its readiness is about its own current template.
  const revision = seen.target.templateHash;
  const primaryAt = seen.primary && primaryRevision(seen.primary);
  const cluster: Cluster = {
    plan: seen.plan,
    target: { revision, ready: canaryReady(seen.target, revision) },
    primary:
      seen.primary && primaryAt
        ? { revision: primaryAt, ready: seen.primary.rolledOut }
        : undefined,
    traffic: seen.traffic,
    annotations: seen.annotations,
  };
  return clusterEvents(context, cluster, now);
}
