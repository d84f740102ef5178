import {
  LABELS,
  managedLabels,
  type OwnerRollout,
  ownerReference,
  primaryName,
} from "../api/names.ts";
import type { AutoscalerRef } from "../api/rollout.ts";
import { type AutoscalerView, type ScalingPolicy, samePolicy } from "../kube/autoscaler.ts";
import type { KubeClient } from "../kube/client.ts";
import type { Logger } from "../observability/logger.ts";
import type { Store } from "./store.ts";
import { type Action, freshOnConflict, written } from "./writes.ts";

export const autoscalersPath = (namespace: string) =>
  `/apis/autoscaling/v2/namespaces/${namespace}/horizontalpodautoscalers`;

/**
 * `<hpa>-primary`: the user's autoscaler's policy (replica bounds, metrics, behaviour) on the
 * primary Deployment. A whole object, replaced rather than applied: a field a person added by
 * hand (a behaviour the user's autoscaler lacks) must go too, which an apply that never set it
 * would leave in place.
 */
export function primaryAutoscalerManifest(
  name: string,
  target: string,
  policy: ScalingPolicy,
  owner: OwnerRollout,
  resourceVersion?: string,
) {
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: {
      name: primaryName(name),
      namespace: owner.namespace,
      labels: managedLabels(owner),
      ownerReferences: [ownerReference(owner)],
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: primaryName(target) },
      ...policy,
    },
  };
}

/** Whether the primary's autoscaler is the one wanted; Fledge writes only when it is not. */
export function primaryAutoscalerMatches(
  current: AutoscalerView,
  user: AutoscalerView,
  target: string,
  owner: OwnerRollout,
): boolean {
  const ref = current.scaleTargetRef;
  return (
    current.metadata.labels[LABELS.rollout] === owner.name &&
    current.metadata.labels[LABELS.managedBy] === "fledge" &&
    ref.kind === "Deployment" &&
    ref.apiVersion === "apps/v1" &&
    ref.name === primaryName(target) &&
    samePolicy(current.policy, user.policy)
  );
}

/** The primary's autoscaler, kept equal to the one the user gave the target. */
export class Autoscalers {
  private readonly client: KubeClient;
  private readonly autoscalers: Store<AutoscalerView>;

  constructor(client: KubeClient, autoscalers: Store<AutoscalerView>) {
    this.client = client;
    this.autoscalers = autoscalers;
  }

  /** The write of the primary's autoscaler, when the cache shows it missing or different. */
  actions(
    ref: AutoscalerRef | undefined,
    target: string,
    owner: OwnerRollout,
    log: Logger,
  ): Action[] {
    if (!ref) return [];
    const user = this.autoscalers.get(owner.namespace, ref.name);
    if (!user) return [];
    const current = this.autoscalers.get(owner.namespace, primaryName(ref.name));
    if (current && primaryAutoscalerMatches(current, user, target, owner)) return [];
    return [
      {
        write: async () => {
          const manifest = primaryAutoscalerManifest(
            ref.name,
            target,
            user.policy,
            owner,
            current?.metadata.resourceVersion,
          );
          const path = autoscalersPath(owner.namespace);
          const what = `HorizontalPodAutoscaler ${owner.namespace}/${manifest.metadata.name}`;
          const item = `${path}/${manifest.metadata.name}`;
          const result = current
            ? await this.client.replace(item, manifest)
            : await this.client.create(path, manifest);
          this.autoscalers.remember(
            written(await freshOnConflict(result, this.client, this.autoscalers, item), what),
          );
          log.info(
            { autoscaler: manifest.metadata.name },
            current ? "primary autoscaler repaired" : "primary autoscaler created",
          );
        },
      },
    ];
  }
}
