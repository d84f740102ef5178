import { API_VERSION, KIND } from "../api/rollout.ts";
import { LABELS, primaryLabels, type RawDeployment, REVISION_ANNOTATION } from "./deployment.ts";

export type OwnerRollout = { name: string; namespace: string; uid: string };

export function ownerReference(owner: OwnerRollout) {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: owner.name,
    uid: owner.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function managedLabels(owner: OwnerRollout): Record<string, string> {
  return { [LABELS.managedBy]: "fledge", [LABELS.rollout]: owner.name };
}

const primaryName = (target: string) => `${target}-primary`;

export { primaryName };

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
