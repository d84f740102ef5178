import { FINALIZER, primaryName } from "../api/names.ts";
import type { RolloutSpec } from "../api/rollout.ts";
import type { KubeClient } from "../kube/client.ts";
import type { DeploymentView } from "../kube/deployment.ts";

import type { Logger } from "../observability/logger.ts";
import { type Routers, routeOf } from "../traffic/router.ts";
import type { ReconcileResult } from "./queue.ts";
import { type RolloutObject, rolloutObject } from "./rollout-object.ts";
import type { Services } from "./services.ts";
import type { Store } from "./store.ts";
import type { Workload } from "./workload.ts";
import { must, rolloutPath, routeWritten, written } from "./writes.ts";

export type FinalizerDeps = {
  client: KubeClient;
  rollouts: Store<RolloutObject>;
  deployments: Store<DeploymentView>;
  routers: Routers;
};

/** The finalizer: put on a Rollout first, and taken off once its app serves without Fledge. */
export class Finalizer {
  private readonly deps: FinalizerDeps;
  private readonly workload: Workload;
  private readonly services: Services;

  constructor(deps: FinalizerDeps, workload: Workload, services: Services) {
    this.deps = deps;
    this.workload = workload;
    this.services = services;
  }

  /** Puts the finalizer on a Rollout that lacks it, before anything is made for it. */
  async ensure(rollout: RolloutObject): Promise<void> {
    const { namespace, name, resourceVersion, finalizers } = rollout.metadata;
    if (finalizers.includes(FINALIZER)) return;
    const patched = written(
      await this.deps.client.patch<unknown>(rolloutPath(namespace, name), {
        metadata: { resourceVersion, finalizers: [...finalizers, FINALIZER] },
      }),
      "adding the finalizer",
    );
    const fresh = rolloutObject(patched);
    if (fresh) rollout.metadata.resourceVersion = fresh.metadata.resourceVersion;
    this.deps.rollouts.remember(patched);
  }

  /**
   * Before the Rollout goes, the app must keep serving through its own Deployment: the target is
   * scaled back up and given all the traffic, an apex Service Fledge made is handed back, then the
   * finalizer comes off and garbage collection removes the rest.
   */
  async finalize(rollout: RolloutObject, spec: RolloutSpec, log: Logger): Promise<ReconcileResult> {
    const { namespace, name, finalizers } = rollout.metadata;
    if (!finalizers.includes(FINALIZER)) return {};
    const target = this.deps.deployments.get(namespace, spec.targetRef.name);
    if (target) {
      const primary = this.deps.deployments.get(namespace, primaryName(spec.targetRef.name));
      if (target.replicas === 0) {
        const replicas = Math.max(primary?.replicas ?? 1, 1);
        await this.workload.scale(target, replicas, "scaling the target back up");
        log.info({ replicas }, "rollout deleted: target scaled back up");
        return {};
      }
      if (!target.rolledOut) return {};
      const owner = { name, namespace, uid: rollout.metadata.uid };
      const chosen = this.deps.routers(spec.trafficRouting);
      const router = chosen.ok ? chosen.router : undefined;
      const route = routeOf(spec, owner);
      if (router)
        routeWritten(await router.finalize(route), `the route ${namespace}/${route.apex}`);
      if (target.matchLabels) await this.services.handBack(owner, route.apex, target.matchLabels);
    }
    const removed = await this.deps.client.patch(rolloutPath(namespace, name), {
      metadata: {
        resourceVersion: rollout.metadata.resourceVersion,
        finalizers: finalizers.filter((f) => f !== FINALIZER),
      },
    });
    // The cache can still hold a Rollout whose finalizer an earlier reconcile took off: it is gone.
    if (!removed.ok && removed.error.status === 404) return {};
    must(removed, "removing the finalizer");
    log.info("rollout deleted: traffic back on the target, finalizer removed");
    return {};
  }
}
