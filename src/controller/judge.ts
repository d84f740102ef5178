import { unknownVariables, unknownVariablesReason } from "../analysis/promql.ts";
import { LABELS } from "../api/names.ts";
import type { RolloutSpec } from "../api/rollout.ts";
import type { DeploymentView } from "../kube/deployment.ts";
import { rolloutRef } from "./apps.ts";
import { findOverlap, type OverlapView } from "./overlap.ts";
import type { Problem } from "./resume.ts";
import type { RolloutObject } from "./rollout-object.ts";

/** What the schema cannot see but the controller can, from its caches: the target, its selector, the primary, the neighbours. */
export function judge(
  spec: RolloutSpec,
  rollout: RolloutObject,
  seen: {
    target: DeploymentView | undefined;
    primary: DeploymentView | undefined;
    apps: OverlapView;
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
