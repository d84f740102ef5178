import { unknownVariables, unknownVariablesReason } from "../analysis/promql.ts";
import { LABELS, primaryName } from "../api/names.ts";
import type { RolloutSpec } from "../api/rollout.ts";
import { type AutoscalerView, scalesDeployment } from "../kube/autoscaler.ts";
import type { DeploymentView } from "../kube/deployment.ts";
import { rolloutRef } from "./apps.ts";
import { findOverlap, type OverlapView } from "./overlap.ts";
import type { Problem } from "./resume.ts";
import type { RolloutObject } from "./rollout-object.ts";

/** The namespace's HorizontalPodAutoscalers, as the cache holds them. */
export type AutoscalersSeen = {
  get(name: string): AutoscalerView | undefined;
  /** Those of the user's, not those Fledge made. */
  names(): string[];
};

/** What the schema cannot see but the controller can, from its caches: the target, its selector, the primary, the neighbours. */
export function judge(
  spec: RolloutSpec,
  rollout: RolloutObject,
  seen: {
    target: DeploymentView | undefined;
    primary: DeploymentView | undefined;
    apps: OverlapView;
    autoscalers: AutoscalersSeen;
  },
): Problem | undefined {
  const { namespace } = rollout.metadata;
  const { target, primary } = seen;
  if (!target) {
    return {
      reason: "TargetNotFound",
      message: `Deployment ${namespace}/${spec.targetRef.name} does not exist`,
    };
  }
  if (
    target.hasMatchExpressions ||
    !target.matchLabels ||
    Object.keys(target.matchLabels).length === 0
  ) {
    return {
      reason: "SelectorUnsupported",
      message: `Deployment ${spec.targetRef.name} must select its pods by spec.selector.matchLabels only`,
    };
  }
  if (primary && primary.metadata.labels[LABELS.rollout] !== rollout.metadata.name) {
    return {
      reason: "PrimaryConflict",
      message: `Deployment ${primary.metadata.name} exists and is not managed by this Rollout`,
    };
  }
  const port = spec.service.targetPort;
  if (typeof port === "string" && !target.portNames.includes(port)) {
    return {
      reason: "TargetPortNotFound",
      message: `service.targetPort ${port} names no TCP port of Deployment ${spec.targetRef.name}'s containers (it has ${target.portNames.join(", ") || "no named ports"})`,
    };
  }
  const query = unfillableQuery(spec);
  if (query) return query;
  const autoscaler = autoscalerProblem(spec, rollout, seen.autoscalers);
  if (autoscaler) return autoscaler;
  const self = rolloutRef(rollout);
  return self && findOverlap(self, target, seen.apps);
}

/**
 * A query of the Rollout's own naming a variable that does not exist. Each check would error on
 * it until errorLimit rolled the canary back for a typo in the spec; held, it is mended instead.
 * A template's queries are judged when the template is resolved.
 */
function unfillableQuery(spec: RolloutSpec): Problem | undefined {
  for (const [i, m] of spec.analysis.metrics.entries()) {
    const unknown = m.provider.query ? unknownVariables(m.provider.query) : [];
    if (unknown.length > 0)
      return {
        reason: "QueryInvalid",
        message: `analysis.metrics[${i}] (${m.name}): ${unknownVariablesReason(unknown)}`,
      };
  }
  return undefined;
}

/**
 * The autoscaler the spec names must exist and scale the target: the primary's is made from it,
 * and one that scales something else says the spec names the wrong one. `<hpa>-primary` must be
 * free, or Fledge's already.
 */
function autoscalerProblem(
  spec: RolloutSpec,
  rollout: RolloutObject,
  autoscalers: AutoscalersSeen,
): Problem | undefined {
  const ref = spec.autoscalerRef;
  if (!ref) return undefined;
  const { namespace, name } = rollout.metadata;
  const user = autoscalers.get(ref.name);
  if (!user) {
    const existing = autoscalers.names();
    return {
      reason: "AutoscalerNotFound",
      message: `HorizontalPodAutoscaler ${namespace}/${ref.name} does not exist (the namespace has ${existing.join(", ") || "none"})`,
    };
  }
  if (!scalesDeployment(user, spec.targetRef.name)) {
    const { apiVersion, kind, name: scaled } = user.scaleTargetRef;
    return {
      reason: "AutoscalerMismatch",
      message: `HorizontalPodAutoscaler ${ref.name} scales ${kind} ${scaled}${apiVersion ? ` (${apiVersion})` : ""}, not Deployment ${spec.targetRef.name}`,
    };
  }
  const primary = autoscalers.get(primaryName(ref.name));
  if (primary && primary.metadata.labels[LABELS.rollout] !== name) {
    return {
      reason: "AutoscalerConflict",
      message: `HorizontalPodAutoscaler ${primary.metadata.name} exists and is not managed by this Rollout`,
    };
  }
  return undefined;
}
