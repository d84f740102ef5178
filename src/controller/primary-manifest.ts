import {
  managedLabels,
  type OwnerRollout,
  ownerReference,
  primaryLabels,
  primaryName,
  REVISION_ANNOTATION,
} from "../api/names.ts";
import type { RawDeployment } from "../kube/deployment.ts";

/**
 * `<target>-primary`: the target's pod template at the stable revision, with selector labels of
 * its own. The revision is written on the Deployment and on its pod template, so each of the
 * primary's ReplicaSets says which revision it holds.
 */
export function primaryManifest(
  target: RawDeployment,
  revision: string,
  replicas: number,
  owner: OwnerRollout,
  /** Set once the primary exists: the apply is refused if anyone wrote it since. */
  resourceVersion?: string,
) {
  const matchLabels = target.spec.selector.matchLabels ?? {};
  const ownLabels = primaryLabels(matchLabels);
  const template = target.spec.template as {
    metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  };
  const spec = target.spec as Record<string, unknown>;
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: primaryName(target.metadata.name),
      namespace: owner.namespace,
      labels: managedLabels(owner),
      annotations: { [REVISION_ANNOTATION]: revision },
      ownerReferences: [ownerReference(owner)],
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    spec: {
      replicas,
      selector: { matchLabels: ownLabels },
      ...(spec.strategy ? { strategy: spec.strategy } : {}),
      ...(spec.minReadySeconds !== undefined ? { minReadySeconds: spec.minReadySeconds } : {}),
      ...(spec.progressDeadlineSeconds !== undefined
        ? { progressDeadlineSeconds: spec.progressDeadlineSeconds }
        : {}),
      template: {
        ...template,
        metadata: {
          ...template.metadata,
          labels: { ...template.metadata?.labels, ...ownLabels },
          annotations: { ...template.metadata?.annotations, [REVISION_ANNOTATION]: revision },
        },
      },
    },
  };
}
