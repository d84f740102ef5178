import { LABELS, managedLabels, ownerReference } from "../../api/names.ts";
import { GATEWAY_GROUP, type GatewayRouting } from "../../api/rollout.ts";
import type { KubeClient, KubeResult } from "../../kube/client.ts";

import type { ObjectStore } from "../crd-watched.ts";
import {
  ALL_TO_CANARY,
  type Capabilities,
  type Route,
  type RouteState,
  type RouteWrite,
  type Traffic,
  type TrafficRouter,
} from "../router.ts";
import {
  covers,
  mainRuleIndex,
  parentRefOf,
  type RouteView,
  routeView,
  rulesFor,
  trafficOf,
  verdictOf,
} from "./http-route.ts";
import type { ServedRoute } from "./route-api.ts";

export type RouteStore = ObjectStore<RouteView>;

const OK: KubeResult<void> = { ok: true, value: undefined };

const declined = (why: string): { ok: false; declined: string } => ({ ok: false, declined: why });

/**
 * A Gateway API HTTPRoute: one Fledge makes and owns, named after the apex Service, or one of
 * the user's, of which it edits only the rule that sends to the apex Service. Its weights count
 * once the route's parents say they accepted the generation written.
 */
export class GatewayRouter implements TrafficRouter {
  private readonly client: KubeClient;
  private readonly served: ServedRoute;
  private readonly routing: GatewayRouting;
  private readonly routes: RouteStore;
  readonly capabilities: Capabilities;

  constructor(
    client: KubeClient,
    served: ServedRoute,
    routing: GatewayRouting,
    routes: RouteStore,
  ) {
    this.client = client;
    this.served = served;
    this.routing = routing;
    this.routes = routes;
    this.capabilities = { matches: served.ruleNames, mirroring: served.mirrorPercent };
  }

  private get owned(): boolean {
    return this.routing.httpRoute === undefined;
  }

  private nameOf(route: Route): string {
    return this.routing.httpRoute ?? route.apex;
  }

  private pathOf(route: Route, name = ""): string {
    const base = `/apis/${GATEWAY_GROUP}/${this.served.version}/namespaces/${route.owner.namespace}/httproutes`;
    return name ? `${base}/${name}` : base;
  }

  /** The parents of a route Fledge makes: the apex Service (GAMMA) unless the spec names others. */
  private parentRefs(route: Route) {
    const refs = this.routing.parentRefs ?? [{ kind: "Service" as const, name: route.apex }];
    return refs.map((ref) => parentRefOf(ref, route.owner.namespace));
  }

  private current(route: Route): RouteView | undefined {
    return this.routes.get(route.owner.namespace, this.nameOf(route));
  }

  observe(route: Route): RouteState {
    const view = this.current(route);
    if (!view) return { traffic: undefined };
    const verdict = verdictOf(view);
    return { traffic: verdict.status === "True" ? trafficOf(view, route) : undefined, verdict };
  }

  isWritten(route: Route, traffic: Traffic): boolean {
    const view = this.current(route);
    return (
      view !== undefined &&
      view.metadata.labels[LABELS.rollout] === route.owner.name &&
      (!this.owned || covers(view.parentRefs, this.parentRefs(route))) &&
      covers(view.rules, rulesFor(view.rules, route, traffic))
    );
  }

  async write(route: Route, traffic: Traffic): Promise<RouteWrite> {
    const view = this.current(route);
    if (this.owned && !view)
      return this.remembered(
        await this.client.create(this.pathOf(route), {
          apiVersion: `${GATEWAY_GROUP}/${this.served.version}`,
          kind: "HTTPRoute",
          metadata: {
            name: this.nameOf(route),
            namespace: route.owner.namespace,
            labels: managedLabels(route.owner),
            ownerReferences: [ownerReference(route.owner)],
          },
          spec: { parentRefs: this.parentRefs(route), rules: rulesFor([], route, traffic) },
        }),
      );
    // A route of the user's is in the cache once labelled as Fledge's: the first write reads it.
    const base = view ? { ok: true as const, value: view } : await this.read(route);
    if (!base.ok) return base;
    // A route of the user's says which requests are the app's by the rule that sends to it;
    // Fledge does not guess one.
    const steeredBy = base.value.metadata.labels[LABELS.rollout];
    if (steeredBy !== undefined && steeredBy !== route.owner.name)
      return declined(
        `HTTPRoute ${route.owner.namespace}/${base.value.metadata.name} is steered by Rollout ${steeredBy}: one route, one Rollout`,
      );
    if (!this.owned && mainRuleIndex(base.value.rules, route) < 0)
      return declined(
        `HTTPRoute ${route.owner.namespace}/${base.value.metadata.name} has no rule whose backendRefs name Service ${route.apex}: add one, or leave trafficRouting.gatewayAPI.httpRoute out for Fledge to make a route`,
      );
    return this.patch(route, base.value, {
      labels: { [LABELS.rollout]: route.owner.name },
      spec: {
        ...(this.owned ? { parentRefs: this.parentRefs(route) } : {}),
        rules: rulesFor(base.value.rules, route, traffic),
      },
    });
  }

  /**
   * What outlives the Rollout gets the traffic: a route Fledge made for a mesh goes with the
   * Rollout, so until then it sends everything to the target; one the user made, or one with a
   * Gateway parent (whose listeners would otherwise lose the app), sends to the apex Service
   * again and is no longer Fledge's.
   */
  async finalize(route: Route): Promise<RouteWrite> {
    const view = this.current(route);
    if (!view) return OK;
    const all = { ...route, matches: undefined };
    const handBack = !this.owned || this.parentRefs(route).some((p) => p.kind !== "Service");
    if (!handBack) return this.isWritten(all, ALL_TO_CANARY) ? OK : this.write(all, ALL_TO_CANARY);
    return this.patch(route, view, {
      labels: { [LABELS.rollout]: null, [LABELS.managedBy]: null },
      ownerReferences: this.owned ? null : undefined,
      spec: { rules: rulesFor(view.rules, all, undefined) },
    });
  }

  private async read(
    route: Route,
  ): Promise<KubeResult<RouteView> | { ok: false; declined: string }> {
    const got = await this.client.get(this.pathOf(route, this.nameOf(route)));
    if (!got.ok) return got;
    const view = routeView(got.value);
    return view
      ? { ok: true, value: view }
      : declined(
          `HTTPRoute ${route.owner.namespace}/${this.nameOf(route)} is not an HTTPRoute Fledge can read`,
        );
  }

  /** A merge patch on the version read: a route someone changed meanwhile is read again first. */
  private async patch(
    route: Route,
    base: RouteView,
    change: {
      labels: Record<string, string | null>;
      ownerReferences?: null | undefined;
      spec: Record<string, unknown>;
    },
  ): Promise<KubeResult<void>> {
    const { labels, ownerReferences, spec } = change;
    return this.remembered(
      await this.client.patch(this.pathOf(route, base.metadata.name), {
        metadata: {
          resourceVersion: base.metadata.resourceVersion,
          labels,
          ...(ownerReferences === null ? { ownerReferences: null } : {}),
        },
        spec,
      }),
    );
  }

  private remembered(result: KubeResult<unknown>): KubeResult<void> {
    if (!result.ok) return result;
    this.routes.remember(result.value);
    return OK;
  }
}
