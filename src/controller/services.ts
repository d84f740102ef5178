import { LABELS, type OwnerRollout, primaryLabels } from "../api/names.ts";
import type { RolloutSpec } from "../api/rollout.ts";
import type { KubeClient } from "../kube/client.ts";

import {
  type ServicePort,
  type ServiceView,
  serviceManifest,
  serviceMatches,
} from "../kube/service.ts";
import type { Route } from "../traffic/router.ts";
import type { Store } from "./store.ts";
import { type Action, servicesPath, written } from "./writes.ts";

/**
 * The Services a route needs: the primary's and the canary's, each selecting its own pods, and
 * the apex when the user has none; handed back to the user when the Rollout goes.
 */
export class Services {
  private readonly client: KubeClient;
  private readonly services: Store<ServiceView>;

  constructor(client: KubeClient, services: Store<ServiceView>) {
    this.client = client;
    this.services = services;
  }

  /** The writes of the Services the cache shows missing or different. */
  actions(
    route: Route,
    matchLabels: Record<string, string>,
    service: RolloutSpec["service"],
    owner: OwnerRollout,
  ): Action[] {
    const port: ServicePort = {
      name: service.portName,
      port: service.port,
      targetPort: service.targetPort ?? service.port,
    };
    const wanted: [string, Record<string, string>][] = [
      [route.primaryService, primaryLabels(matchLabels)],
      [route.canaryService, matchLabels],
    ];
    // The apex is made only when missing: an existing one is the user's, or already ours.
    if (!this.services.get(owner.namespace, route.apex))
      wanted.push([route.apex, primaryLabels(matchLabels)]);
    return wanted
      .filter(([name, selector]) => {
        const current = this.services.get(owner.namespace, name);
        return !current || !serviceMatches(current, selector, port);
      })
      .map(([name, selector]) => ({ write: () => this.apply(name, selector, port, owner) }));
  }

  /** An apex Service Fledge made goes back to selecting the target's pods, no longer Fledge's. */
  async handBack(
    owner: OwnerRollout,
    apex: string,
    selector: Record<string, string>,
  ): Promise<void> {
    const current = this.services.get(owner.namespace, apex);
    if (current?.metadata.labels[LABELS.rollout] !== owner.name) return;
    written(
      await this.client.patch(`${servicesPath(owner.namespace)}/${apex}`, {
        metadata: {
          ownerReferences: null,
          labels: { [LABELS.managedBy]: null, [LABELS.rollout]: null },
        },
        spec: { selector },
      }),
      `Service ${owner.namespace}/${apex}`,
    );
  }

  private async apply(
    name: string,
    selector: Record<string, string>,
    port: ServicePort,
    owner: OwnerRollout,
  ): Promise<void> {
    const manifest = serviceManifest(name, selector, port, owner);
    const applied = written(
      await this.client.patch(`${servicesPath(owner.namespace)}/${name}`, manifest, "apply"),
      `Service ${owner.namespace}/${name}`,
    );
    this.services.remember(applied);
  }
}
