import { trafficInEffect, type UntimedEvent } from "../machine/context.ts";
import type { RolloutSnapshot } from "../machine/snapshot.ts";
import { desiredOf } from "../machine/view.ts";

/**
 * The route write a decision calls for, as the observation it becomes once made: the reconciler
 * feeds back the split it wrote, so the machine sees it in effect within the same reconcile.
 * Undefined when the route already shows what the machine wants.
 */
export function routeWrite(
  snapshot: RolloutSnapshot,
): Extract<UntimedEvent, { type: "TRAFFIC" }> | undefined {
  if (trafficInEffect(snapshot.context)) return undefined;
  const { canaryWeight, mirrorPercent } = desiredOf(snapshot);
  return { type: "TRAFFIC", canaryWeight, mirrorPercent };
}
