import { type OwnerRollout, primaryLabels, REVISION_ANNOTATION } from "../api/names.ts";
import type { RolloutSpec } from "../api/rollout.ts";
import type { KubeClient } from "../kube/client.ts";
import { type DeploymentView, parseDeployment, templateHash } from "../kube/deployment.ts";
import type { Logger } from "../observability/logger.ts";
import { primaryManifest } from "./primary-manifest.ts";
import type { Store } from "./store.ts";
import { deploymentPath, freshOnConflict, must, written } from "./writes.ts";

/**
 * The workload: the primary Fledge makes from the target, and the target's replicas, the one
 * field of the user's Deployment Fledge writes.
 */
export class Workload {
  private readonly client: KubeClient;
  private readonly deployments: Store<DeploymentView>;

  constructor(client: KubeClient, deployments: Store<DeploymentView>) {
    this.client = client;
    this.deployments = deployments;
  }

  /**
   * Sets the target's spec.replicas, the one field of the user's Deployment Fledge writes. A
   * patch of the Deployment rather than its scale subresource, because it answers with the whole
   * object, which the cache then shows until the watch brings it back.
   */
  async scale(target: DeploymentView, replicas: number, what: string): Promise<void> {
    const { namespace, name } = target.metadata;
    const scaled = written(
      await this.client.patch(deploymentPath(namespace, name), { spec: { replicas } }),
      what,
    );
    this.deployments.remember(scaled);
  }

  /** Makes the primary run `revision`: the target's template, or one the primary ran before. */
  async applyPrimary(
    spec: RolloutSpec,
    revision: string,
    primary: DeploymentView | undefined,
    target: DeploymentView,
    owner: OwnerRollout,
    log: Logger,
  ): Promise<void> {
    // A target cached before its Rollout was known has no spec in the cache yet: read it.
    const full =
      structuredClone(target.source) ??
      parseDeployment(
        must(
          await this.client.get(deploymentPath(owner.namespace, spec.targetRef.name)),
          "reading the target",
        ),
      );
    if (!full) return;
    // The revision is the target's own, or (undoing a promotion) one the primary ran before.
    if (templateHash(full.spec.template) !== revision) {
      const earlier = await this.templateAt(revision, target, owner);
      if (!earlier) {
        log.warn(
          { revision },
          "no template for the revision: neither the target nor the primary's history has it",
        );
        return;
      }
      full.spec.template = earlier;
    }
    // The primary's replicas are its autoscaler's (or a person's) once it exists: the apply
    // repeats the count the cache saw, on the condition that nobody wrote since (its
    // resourceVersion), so a count raised meanwhile is never set back but refused as a Conflict,
    // and the reconcile starts over from the primary as it is now. Leaving replicas out instead
    // would hand the field back to its default of 1, as this manager set it when creating.
    const replicas = primary?.replicas ?? (target.replicas > 0 ? target.replicas : 1);
    const manifest = primaryManifest(
      full,
      revision,
      replicas,
      owner,
      primary?.metadata.resourceVersion,
    );
    const path = deploymentPath(owner.namespace, manifest.metadata.name);
    const applied = written(
      await freshOnConflict(
        await this.client.patch(path, manifest, "apply"),
        this.client,
        this.deployments,
        path,
      ),
      `Deployment ${owner.namespace}/${manifest.metadata.name}`,
    );
    this.deployments.remember(applied);
    log.info({ revision, replicas }, primary ? "primary updated" : "primary created");
  }

  /** The pod template the primary ran at `revision`, from its ReplicaSets (each carries its revision). */
  private async templateAt(revision: string, target: DeploymentView, owner: OwnerRollout) {
    const selector = Object.entries(primaryLabels(target.matchLabels ?? {}))
      .map(([k, v]) => `${k}=${v}`)
      .join(",");
    type ReplicaSets = {
      items: {
        spec: {
          template: {
            metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
          };
        };
      }[];
    };
    const list = must(
      await this.client.request<ReplicaSets>(
        "GET",
        `/apis/apps/v1/namespaces/${owner.namespace}/replicasets`,
        undefined,
        undefined,
        { labelSelector: selector },
      ),
      "listing the primary's ReplicaSets",
    );
    const template = list.items.find(
      (rs) => rs.spec.template.metadata?.annotations?.[REVISION_ANNOTATION] === revision,
    )?.spec.template;
    if (!template) return undefined;
    const { "pod-template-hash": _, ...labels } = template.metadata?.labels ?? {};
    return { ...template, metadata: { ...template.metadata, labels } };
  }
}
