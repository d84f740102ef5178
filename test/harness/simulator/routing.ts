// How the simulated mesh routes one request to a Service. As a GAMMA mesh would, first by the
// HTTPRoutes whose parent the Service is and that the mesh accepts: the rule whose match holds
// with the Gateway API's precedence, a backend by weight, and copies for the rule's
// RequestMirror filters. A Service no accepted route is attached to goes as a mesh that honours
// SMI would route it: a TrafficSplit whose HTTPRouteGroup matches the request first, else the
// split without matches, else the Service itself. Then the chosen Service's selector picks the
// serving Deployment among those with ready pods. Pure: the cluster comes in as a snapshot.

import {
  type Behaviour,
  behaviourOf,
  type HttpMatch,
  IGNORE_SPLITS_ANNOTATION,
  MATCH_ALL,
  matchesAll,
  matchesRequest,
  matchPrecedence,
  pickWeighted,
  type Random,
  REFUSE_ROUTES_ANNOTATION,
  type RequestAttributes,
  type RouteMatch,
  requestFor,
  requestForRoute,
  routeMatchHolds,
  type SplitBackend,
  selects,
} from "./model.ts";

export interface ServiceInfo {
  namespace: string;
  name: string;
  selector: Record<string, string>;
  port: number;
  /** The Service's annotations; REFUSE_ROUTES_ANNOTATION and IGNORE_SPLITS_ANNOTATION are read from them. */
  annotations?: Record<string, string>;
}

export interface DeploymentInfo {
  namespace: string;
  name: string;
  templateLabels: Record<string, string>;
  templateAnnotations: Record<string, string>;
  readyReplicas: number;
}

export interface SplitInfo {
  namespace: string;
  name: string;
  apex: string;
  backends: SplitBackend[];
  /** Names of the HTTPRouteGroups in spec.matches; empty for a split that takes all requests. */
  routeGroups: string[];
}

export interface RouteGroupInfo {
  namespace: string;
  name: string;
  matches: HttpMatch[];
}

/** An HTTPRoute's parentRef with the CRD's defaults (group gateway.networking.k8s.io, kind Gateway). */
export interface ParentRef {
  group: string;
  kind: string;
  /** Defaults to the route's. */
  namespace: string;
  name: string;
  port?: number;
  sectionName?: string;
  /** The parentRef as the route's spec has it, for status.parents[].parentRef. */
  spec: Record<string, unknown>;
}

/** A backendRef (of a rule, or of a RequestMirror filter); group and kind as written. */
export interface BackendRef {
  group: string;
  kind: string;
  namespace: string;
  name: string;
  /** 1 when absent; 0 takes no requests. */
  weight: number;
}

export interface RouteRule {
  name?: string;
  /** Empty: the rule takes every request (the CRD defaults it so). */
  matches: RouteMatch[];
  backends: BackendRef[];
  /** The rule's RequestMirror filters: where a copy goes, and the share (0..1) copied. */
  mirrors: { backend: BackendRef; share: number }[];
}

export interface HttpRouteInfo {
  namespace: string;
  name: string;
  generation: number;
  /** metadata.creationTimestamp, for the precedence among routes: older first. */
  created: string;
  parents: ParentRef[];
  rules: RouteRule[];
}

/** The part of the cluster routing reads. */
export interface ClusterSnapshot {
  service(namespace: string, name: string): ServiceInfo | undefined;
  deployments(namespace: string): DeploymentInfo[];
  splits(namespace: string, apex: string): SplitInfo[];
  routeGroup(namespace: string, name: string): RouteGroupInfo | undefined;
  /** The HTTPRoutes in a namespace (gateway.networking.k8s.io/v1); none where it is not served. */
  httpRoutes(namespace: string): HttpRouteInfo[];
}

/** Where one request (or a mirrored copy of it) went. */
export type Destination =
  | {
      kind: "served";
      /** The TrafficSplit that routed it; "" for none. */
      split: string;
      /** The HTTPRoute that routed it; "" for none. */
      route: string;
      service: string;
      port: number;
      deployment: string;
      app: string | undefined;
      behaviour: Behaviour;
    }
  /**
   * No backend with weight, a backend Service that does not exist or selects no ready
   * Deployment, or no rule of the Service's routes matching: a mesh answers 5xx (or 404).
   */
  | { kind: "unroutable"; split: string; route: string; service: string };

/** A request's destination and those of its mirrored copies, whose answers are dropped. */
export type Routed = Destination & { mirrors: Destination[] };

/** One kind of request the client sends: plain, or made to satisfy one match of a route. */
export interface RequestKind {
  /**
   * "plain", "ROUTEGROUP/MATCH" (an HTTPRouteGroup's) or "HTTPROUTE/RULE/INDEX" (an HTTPRoute
   * rule's match; RULE is the rule's name or its index): the simulator's counter is labelled with it.
   */
  label: string;
  request: RequestAttributes;
}

const byName = <T extends { name: string }>(a: T, b: T) => a.name.localeCompare(b.name);

const SERVICE_KINDS = new Set(["", "core"]);

/** Whether a parentRef or backendRef names a core Service. */
export const isServiceRef = (ref: { group: string; kind: string }): boolean =>
  ref.kind === "Service" && SERVICE_KINDS.has(ref.group);

/**
 * Whether the mesh takes the route's parentRef as a Service of its own to route for: a Service
 * in the route's namespace (a producer route) that exists. Consumer routes (a Service parent in
 * another namespace) and Gateway parents are left to others.
 */
export function meshParent(cluster: ClusterSnapshot, route: HttpRouteInfo, parent: ParentRef) {
  if (!isServiceRef(parent) || parent.namespace !== route.namespace) return undefined;
  return cluster.service(parent.namespace, parent.name);
}

/** Why the mesh refuses the routes attached to a Service (its annotation); undefined: it accepts. */
export const refusal = (service: ServiceInfo): string | undefined =>
  service.annotations?.[REFUSE_ROUTES_ANNOTATION];

/** The HTTPRoutes the mesh accepts for a Service, oldest first (the spec's tie-break), then by name. */
export function acceptedRoutes(
  cluster: ClusterSnapshot,
  namespace: string,
  service: string,
): HttpRouteInfo[] {
  const info = cluster.service(namespace, service);
  if (!info || refusal(info) !== undefined) return [];
  return cluster
    .httpRoutes(namespace)
    .filter((route) =>
      route.parents.some(
        (p) =>
          p.name === service &&
          meshParent(cluster, route, p) !== undefined &&
          (p.port === undefined || p.port === info.port),
      ),
    )
    .sort((a, b) => a.created.localeCompare(b.created) || byName(a, b));
}

const compareKeys = (a: number[], b: number[]) => {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
};

/** The rule that takes the request among the routes (in their order), by the matches' precedence. */
export function ruleFor(
  routes: HttpRouteInfo[],
  request: RequestAttributes,
): { route: HttpRouteInfo; rule: RouteRule } | undefined {
  let best: { route: HttpRouteInfo; rule: RouteRule; key: number[] } | undefined;
  routes.forEach((route, r) => {
    route.rules.forEach((rule, i) => {
      (rule.matches.length > 0 ? rule.matches : [MATCH_ALL]).forEach((match, m) => {
        if (!routeMatchHolds(match, request)) return;
        const key = [...matchPrecedence(match), r, i, m];
        if (!best || compareKeys(key, best.key) < 0) best = { route, rule, key };
      });
    });
  });
  return best && { route: best.route, rule: best.rule };
}

function groupMatches(
  cluster: ClusterSnapshot,
  split: SplitInfo,
  request: RequestAttributes,
): boolean {
  return split.routeGroups.some((group) =>
    cluster
      .routeGroup(split.namespace, group)
      ?.matches.some((match) => matchesRequest(match, request)),
  );
}

/**
 * The request kinds worth sending to a Service besides plain ones: one per match of the rules of
 * its accepted HTTPRoutes (but catch-alls), else one per match its TrafficSplits use.
 */
export function requestKinds(
  cluster: ClusterSnapshot,
  namespace: string,
  apex: string,
): { kinds: RequestKind[]; problems: string[] } {
  const kinds: RequestKind[] = [];
  const problems: string[] = [];
  const routes = acceptedRoutes(cluster, namespace, apex);
  for (const route of routes) {
    route.rules.forEach((rule, i) => {
      rule.matches.forEach((match, m) => {
        if (matchesAll(match)) return;
        const label = `${route.name}/${rule.name ?? i}/${m}`;
        const request = requestForRoute(match);
        if (request) kinds.push({ label, request });
        else problems.push(`cannot make up a request for ${namespace}/${label}`);
      });
    });
  }
  if (routes.length > 0) return { kinds, problems };
  const groups = new Set(cluster.splits(namespace, apex).flatMap((split) => split.routeGroups));
  for (const group of [...groups].sort()) {
    for (const match of cluster.routeGroup(namespace, group)?.matches ?? []) {
      const request = requestFor(match);
      if (request) kinds.push({ label: `${group}/${match.name}`, request });
      else problems.push(`cannot make up a request for ${namespace}/${group} match ${match.name}`);
    }
  }
  return { kinds, problems };
}

function servingDeployment(
  cluster: ClusterSnapshot,
  namespace: string,
  service: ServiceInfo,
  random: Random,
): DeploymentInfo | undefined {
  // As kube-proxy spreads connections over ready pods, weight each Deployment by its ready pods.
  const candidates = cluster
    .deployments(namespace)
    .filter((d) => d.readyReplicas > 0 && selects(service.selector, d.templateLabels))
    .sort(byName)
    .map((d) => ({ deployment: d, weight: d.readyReplicas }));
  return pickWeighted(candidates, random)?.deployment;
}

/** The Deployment that serves a request routed to the Service (by its selector). */
function serve(
  cluster: ClusterSnapshot,
  namespace: string,
  serviceName: string,
  via: { split: string; route: string },
  random: Random,
): Destination {
  const service = cluster.service(namespace, serviceName);
  const deployment = service && servingDeployment(cluster, namespace, service, random);
  if (!service || !deployment) return { kind: "unroutable", ...via, service: serviceName };
  return {
    kind: "served",
    ...via,
    service: serviceName,
    port: service.port,
    deployment: deployment.name,
    app: deployment.templateLabels.app,
    behaviour: behaviourOf(deployment.templateAnnotations),
  };
}

/** Only Services in the route's own namespace are resolved (no ReferenceGrants here). */
const resolvable = (route: HttpRouteInfo, ref: BackendRef) =>
  isServiceRef(ref) && ref.namespace === route.namespace;

function viaHttpRoute(
  cluster: ClusterSnapshot,
  namespace: string,
  apex: string,
  routes: HttpRouteInfo[],
  request: RequestAttributes,
  random: Random,
): Routed {
  const taken = ruleFor(routes, request);
  // No rule matching: GAMMA meshes answer 404, as a Gateway does.
  if (!taken) return { kind: "unroutable", split: "", route: "", service: apex, mirrors: [] };
  const { route, rule } = taken;
  const via = { split: "", route: route.name };
  const to = (ref: BackendRef): Destination =>
    resolvable(route, ref)
      ? serve(cluster, namespace, ref.name, via, random)
      : { kind: "unroutable", ...via, service: ref.name };
  const mirrors = rule.mirrors.filter((m) => random() < m.share).map((m) => to(m.backend));
  const backend = pickWeighted(rule.backends, random);
  // No backend with weight (or none at all): the Gateway API's 500.
  if (!backend) return { kind: "unroutable", ...via, service: apex, mirrors };
  return { ...to(backend), mirrors };
}

export function route(
  cluster: ClusterSnapshot,
  namespace: string,
  apex: string,
  request: RequestAttributes,
  random: Random,
): Routed {
  const via = { split: "", route: "" };
  if (cluster.service(namespace, apex)?.annotations?.[IGNORE_SPLITS_ANNOTATION] !== undefined)
    return { ...serve(cluster, namespace, apex, via, random), mirrors: [] };
  const routes = acceptedRoutes(cluster, namespace, apex);
  if (routes.length > 0) return viaHttpRoute(cluster, namespace, apex, routes, request, random);
  const splits = cluster.splits(namespace, apex).sort(byName);
  const split =
    splits.find((s) => s.routeGroups.length > 0 && groupMatches(cluster, s, request)) ??
    splits.find((s) => s.routeGroups.length === 0);
  let serviceName = apex;
  if (split) {
    const backend = pickWeighted(split.backends, random);
    if (!backend)
      return { kind: "unroutable", split: split.name, route: "", service: apex, mirrors: [] };
    serviceName = backend.service;
  }
  return {
    ...serve(cluster, namespace, serviceName, { ...via, split: split?.name ?? "" }, random),
    mirrors: [],
  };
}
