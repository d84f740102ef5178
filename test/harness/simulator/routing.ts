// How the simulated mesh routes one request to the apex Service, as a mesh that honours SMI
// would: a TrafficSplit whose HTTPRouteGroup matches the request first, else the split without
// matches, else the apex Service itself; then the backend Service's selector picks the serving
// Deployment among those with ready pods. Pure: the cluster comes in as a snapshot.

import {
  type Behaviour,
  behaviourOf,
  type HttpMatch,
  matchesRequest,
  pickWeighted,
  type Random,
  type RequestAttributes,
  requestFor,
  type SplitBackend,
  selects,
} from "./model.ts";

export interface ServiceInfo {
  namespace: string;
  name: string;
  selector: Record<string, string>;
  port: number;
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

/** The part of the cluster routing reads. */
export interface ClusterSnapshot {
  service(namespace: string, name: string): ServiceInfo | undefined;
  deployments(namespace: string): DeploymentInfo[];
  splits(namespace: string, apex: string): SplitInfo[];
  routeGroup(namespace: string, name: string): RouteGroupInfo | undefined;
}

export type Routed =
  | {
      kind: "served";
      split: string;
      service: string;
      port: number;
      deployment: string;
      app: string | undefined;
      behaviour: Behaviour;
    }
  /** No backend with weight, or a Service that selects no ready Deployment: a mesh answers 503. */
  | { kind: "unroutable"; split: string; service: string };

/** One kind of request the client sends: plain, or made to satisfy one HTTPRouteGroup match. */
export interface RequestKind {
  /** "plain", or "ROUTEGROUP/MATCH": the simulator's counter is labelled with it. */
  label: string;
  request: RequestAttributes;
}

const byName = <T extends { name: string }>(a: T, b: T) => a.name.localeCompare(b.name);

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

/** The request kinds worth sending to an apex: plain ones, and one per match its splits use. */
export function requestKinds(
  cluster: ClusterSnapshot,
  namespace: string,
  apex: string,
): { kinds: RequestKind[]; problems: string[] } {
  const kinds: RequestKind[] = [];
  const problems: string[] = [];
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

export function route(
  cluster: ClusterSnapshot,
  namespace: string,
  apex: string,
  request: RequestAttributes,
  random: Random,
): Routed {
  const splits = cluster.splits(namespace, apex).sort(byName);
  const split =
    splits.find((s) => s.routeGroups.length > 0 && groupMatches(cluster, s, request)) ??
    splits.find((s) => s.routeGroups.length === 0);
  let serviceName = apex;
  if (split) {
    const backend = pickWeighted(split.backends, random);
    if (!backend) return { kind: "unroutable", split: split.name, service: apex };
    serviceName = backend.service;
  }
  const splitName = split?.name ?? "";
  const service = cluster.service(namespace, serviceName);
  const deployment = service && servingDeployment(cluster, namespace, service, random);
  if (!service || !deployment)
    return { kind: "unroutable", split: splitName, service: serviceName };
  return {
    kind: "served",
    split: splitName,
    service: serviceName,
    port: service.port,
    deployment: deployment.name,
    app: deployment.templateLabels.app,
    behaviour: behaviourOf(deployment.templateAnnotations),
  };
}
