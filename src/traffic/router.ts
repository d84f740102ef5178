import { type OwnerRollout, serviceNames } from "../api/names.ts";
import {
  type HeaderMatch,
  type RolloutSpec,
  routingMatches,
  type TrafficRouting,
} from "../api/rollout.ts";
import type { KubeClient, KubeResult } from "../kube/client.ts";
import type { Informer } from "../kube/informer.ts";

import type { ApiAccess } from "../kube/request.ts";
import type { Logger } from "../observability/logger.ts";

/** Where traffic goes for one rollout: the apex Service and its two backends. */
export type Route = {
  owner: OwnerRollout;
  apex: string;
  primaryService: string;
  canaryService: string;
  /** The port the three Services expose, for routes that name a backend's port. */
  port: number;
  /** A/B routing: only requests matching one of these go by the weights; the rest stay on the primary. */
  matches?: HeaderMatch[] | undefined;
};

/** What a route does with requests: the canary's share, and the share copied to it as well. */
export type Traffic = { canaryWeight: number; mirrorPercent: number };

/** All requests to the target, as when Fledge hands the app back. */
export const ALL_TO_CANARY: Traffic = { canaryWeight: 100, mirrorPercent: 0 };

/**
 * The route Fledge manages for a Rollout: the apex Service (the user's name for it, or the
 * target's) and the primary and canary Services behind it, with the spec's matches.
 */
export function routeOf(spec: RolloutSpec, owner: OwnerRollout): Route {
  return {
    owner,
    ...serviceNames(spec),
    port: spec.service.port,
    matches: routingMatches(spec.trafficRouting),
  };
}

/** What a router can do beyond weights; a spec that asks for more is refused, not half done. */
export type Capabilities = { matches: boolean; mirroring: boolean };

/** Why a router cannot carry a spec out, or undefined when it can. */
export function beyondCapabilities(spec: RolloutSpec, can: Capabilities): string | undefined {
  const mirrors = spec.steps.flatMap((s, i) => (s.setMirror === undefined ? [] : [i + 1]));
  if (mirrors.length && !can.mirroring)
    return `step ${mirrors.join(", ")} mirrors requests, which this router cannot do: an SMI TrafficSplit cannot mirror, and the Gateway API needs an HTTPRoute version whose RequestMirror filter has percent`;
  if (routingMatches(spec.trafficRouting)?.length && !can.matches)
    return "this router cannot send requests by matches: the Gateway API needs an HTTPRoute version whose rules have names";
  return undefined;
}

/**
 * What came of a route write: the apiserver's answer, or why the router did not ask it (a
 * route of the user's it cannot steer), which no one must read as the apiserver's refusal.
 */
export type RouteWrite = KubeResult<void> | { ok: false; declined: string };

/** The routing condition a router reports when it can tell whether its parents took a route up. */
export type RouteVerdict = {
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
};

/** What a router reads back of a route. */
export type RouteState = {
  /** The traffic in effect; undefined while none is known to be (no route, or one not taken up yet). */
  traffic: Traffic | undefined;
  verdict?: RouteVerdict | undefined;
};

/**
 * A traffic router moves weight between the primary and canary Services. The core knows only
 * this; each mesh API (SMI TrafficSplit, Gateway API HTTPRoute) lives in a folder of its own.
 */
export interface TrafficRouter {
  readonly capabilities: Capabilities;
  /** What the route does now, as far as its API can tell. */
  observe(route: Route): RouteState;
  /**
   * Whether the route as written already says `traffic`: a reconcile decides from this whether
   * it has a write to make (and to record first). In effect is another matter: see observe.
   */
  isWritten(route: Route, traffic: Traffic): boolean;
  /** Writes the route to say `traffic`; observe tells when it is in effect. */
  write(route: Route, traffic: Traffic): Promise<RouteWrite>;
  /** Before the Rollout goes: every request to the target, through what outlives the Rollout. */
  finalize(route: Route): Promise<RouteWrite>;
}

/** The router a Rollout's spec.trafficRouting asks for, or why this cluster cannot give it. */
export type RouterChoice = { ok: true; router: TrafficRouter } | { ok: false; reason: string };

/** Chooses a Rollout's router from its spec: each router's folder has one for its own block. */
export type Routers<Spec = TrafficRouting> = (spec: Spec) => RouterChoice;

/** What a router's API needs of the controller to watch and write its objects. */
export type TrafficOptions = {
  kubeConfig: ApiAccess;
  client: KubeClient;
  /** The one namespace watched, or every namespace. */
  namespace: string | undefined;
  logger: Logger;
};

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
export interface TrafficApi<Spec = TrafficRouting> {
  readonly routers: Routers<Spec>;
  /** Its informers now: one may come only once the cluster serves its API. */
  informers(): Informer<{ metadata: { name: string } }>[];
  /** Starts its informers; resolves once those of the API the cluster serves are synced. */
  start(): Promise<void>;
}
