import type { HeaderMatch, RolloutSpec } from "../api/rollout.ts";
import type { KubeResult } from "../kube/client.ts";
import type { Informer } from "../kube/informer.ts";
import type { OwnerRollout } from "../kube/primary.ts";

/** Where traffic goes for one rollout: the apex Service and its two backends. */
export type Route = {
  owner: OwnerRollout;
  apex: string;
  primaryService: string;
  canaryService: string;
  /** A/B routing: only requests matching one of these go by the weights; the rest stay on the primary. */
  matches?: HeaderMatch[] | undefined;
};

/**
 * The route Fledge manages for a Rollout: the apex Service (the user's name for it, or the
 * target's) and the primary and canary Services behind it, with the spec's matches.
 */
export function routeOf(spec: RolloutSpec, owner: OwnerRollout): Route {
  const apex = spec.service.name ?? spec.targetRef.name;
  return {
    owner,
    apex,
    primaryService: `${apex}-primary`,
    canaryService: `${apex}-canary`,
    matches: spec.trafficRouting.smi.matches,
  };
}

/**
 * A traffic router moves weight between the primary and canary Services. The core knows only
 * this; each mesh API (SMI TrafficSplit today, Gateway API later) lives in a folder of its own.
 */
export interface TrafficRouter {
  /** The canary's share of traffic now in effect (0..100), or undefined when no route exists yet. */
  observedWeight(route: Route): number | undefined;
  /**
   * Whether the route in effect already sends canaryWeight% to the canary, through the route's
   * matches: a reconcile decides from this whether it has a write to make (and to record first).
   */
  inEffect(route: Route, canaryWeight: number): boolean;
  /** Writes the route to send canaryWeight% to the canary; observedWeight tells it from then on. */
  setWeight(route: Route, canaryWeight: number): Promise<KubeResult<void>>;
}

/** The router a Rollout's spec.trafficRouting asks for, or why this cluster cannot give it. */
export type RouterChoice = { ok: true; router: TrafficRouter } | { ok: false; reason: string };

/** Chooses a Rollout's router; each router's folder has one, and the core knows only this. */
export type Routers = (trafficRouting: RolloutSpec["trafficRouting"]) => RouterChoice;

/** What a router's API tells the controller, which wakes the Rollouts concerned. */
export type TrafficHooks = {
  /** An object the router made changed: it names its Rollout by label. */
  objectChanged(obj: { metadata: { namespace?: string; labels?: Record<string, string> } }): void;
  /** The API the cluster serves changed: Rollouts that could not be routed may be now. */
  apiChanged(): void;
  /** One of its watches opened again after failures: what failed meanwhile can be retried. */
  reconnected(): void;
};

/** A router's API as the controller runs it: its routers and the informers behind them. */
export interface TrafficApi {
  readonly routers: Routers;
  /** Its informers now: one may come only once the cluster serves its API. */
  informers(): Informer<{ metadata: { name: string } }>[];
  /** Starts its informers; resolves once those of the API the cluster serves are synced. */
  start(): Promise<void>;
}
