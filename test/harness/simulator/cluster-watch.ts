// The simulator's view of the cluster: list+watch caches of TrafficSplits (in the newest served
// version: with the CRD's None conversion every split shows up there, whatever version wrote it),
// HTTPRouteGroups, Gateway API HTTPRoutes (v1, where served), Services and Deployments, turned
// into a routing snapshot on demand.

import type { KubeConfig } from "@kubernetes/client-node";
import { z } from "zod";
import { HTTP_ROUTE_GROUP_VERSIONS, SPECS_GROUP, SPLIT_GROUP } from "../../../src/api/smi.ts";
import { KubeClient } from "../../../src/kube/client.ts";
import { createInformer, type Informer } from "../../../src/kube/informer.ts";
import { serviceView } from "../../../src/kube/service.ts";
import type { Logger } from "../../../src/observability/logger.ts";
import { splitView } from "../../../src/traffic/smi/router.ts";
import { servedSplitVersions } from "../../../src/traffic/smi/versions.ts";
import { GATEWAY_GROUP, mirrorShare, readMatches, routeMatch } from "./model.ts";
import { type RouteStatus, type StatusParent, startRouteStatus } from "./route-status.ts";
import {
  type BackendRef,
  type ClusterSnapshot,
  type DeploymentInfo,
  type HttpRouteInfo,
  meshParent,
  type RouteGroupInfo,
  type RouteRule,
  type ServiceInfo,
  type SplitInfo,
} from "./routing.ts";

type Named = { metadata: { name: string; namespace: string; resourceVersion?: string } };
type Cached<T> = T & Named;

const withMeta = <T extends { namespace: string; name: string }>(value: T): Cached<T> => ({
  ...value,
  metadata: { name: value.name, namespace: value.namespace },
});

type Raw = {
  metadata?: { name?: string; namespace?: string };
  spec?: Record<string, unknown>;
  status?: Record<string, unknown>;
};

function deploymentInfo(raw: unknown): Cached<DeploymentInfo> | undefined {
  const r = raw as Raw;
  const template = r.spec?.template as
    | { metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> } }
    | undefined;
  if (!r.metadata?.name || !r.metadata.namespace) return undefined;
  return withMeta({
    namespace: r.metadata.namespace,
    name: r.metadata.name,
    templateLabels: template?.metadata?.labels ?? {},
    templateAnnotations: template?.metadata?.annotations ?? {},
    readyReplicas: Number(r.status?.readyReplicas ?? 0),
  });
}

function serviceInfo(raw: unknown): Cached<ServiceInfo> | undefined {
  const view = serviceView(raw);
  if (!view) return undefined;
  return withMeta({
    namespace: view.metadata.namespace,
    name: view.metadata.name,
    selector: view.selector,
    port: view.ports[0]?.port ?? 80,
    annotations: (raw as { metadata?: { annotations?: Record<string, string> } }).metadata
      ?.annotations,
  });
}

function splitInfo(raw: unknown): Cached<SplitInfo> | undefined {
  const view = splitView(raw);
  if (!view) return undefined;
  const matches = ((raw as Raw).spec?.matches ?? []) as { kind?: string; name?: string }[];
  return withMeta({
    namespace: view.metadata.namespace,
    name: view.metadata.name,
    apex: view.service,
    backends: view.backends.map((b) => ({ service: b.service, weight: Math.max(0, b.weight) })),
    routeGroups: matches
      .filter((m) => m.kind === "HTTPRouteGroup" && typeof m.name === "string")
      .map((m) => m.name as string),
  });
}

function routeGroupInfo(raw: unknown): Cached<RouteGroupInfo> | undefined {
  const r = raw as Raw;
  if (!r.metadata?.name || !r.metadata.namespace) return undefined;
  const matches = readMatches(r.spec?.matches);
  // A group the mesh cannot decode routes nothing, as it is then unknown to the mesh.
  if (!matches) return undefined;
  return withMeta({ namespace: r.metadata.namespace, name: r.metadata.name, matches });
}

const WireBackendRef = z.looseObject({
  group: z.string().optional(),
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string(),
  weight: z.int().optional(),
});
const WireHttpRoute = z.looseObject({
  metadata: z.looseObject({
    name: z.string(),
    namespace: z.string(),
    resourceVersion: z.string().optional(),
    generation: z.int().optional(),
    creationTimestamp: z.string().optional(),
  }),
  spec: z.looseObject({
    parentRefs: z
      .array(
        z.looseObject({
          group: z.string().optional(),
          kind: z.string().optional(),
          namespace: z.string().optional(),
          name: z.string(),
          sectionName: z.string().optional(),
          port: z.int().optional(),
        }),
      )
      .optional(),
    rules: z
      .array(
        z.looseObject({
          name: z.string().optional(),
          matches: z
            .array(
              z.looseObject({
                path: z
                  .looseObject({ type: z.string().optional(), value: z.string().optional() })
                  .optional(),
                headers: z
                  .array(
                    z.object({ type: z.string().optional(), name: z.string(), value: z.string() }),
                  )
                  .optional(),
                queryParams: z.array(z.unknown()).optional(),
                method: z.string().optional(),
              }),
            )
            .optional(),
          filters: z
            .array(
              z.looseObject({
                type: z.string(),
                requestMirror: z
                  .looseObject({
                    backendRef: WireBackendRef,
                    percent: z.int().optional(),
                    fraction: z
                      .object({ numerator: z.int(), denominator: z.int().optional() })
                      .optional(),
                  })
                  .optional(),
              }),
            )
            .optional(),
          backendRefs: z.array(WireBackendRef).optional(),
        }),
      )
      .optional(),
  }),
  status: z.looseObject({ parents: z.array(z.looseObject({})).optional() }).optional(),
});

/** An HTTPRoute as the routing reads it, with its status.parents for the status writer. */
export type CachedRoute = Cached<HttpRouteInfo> & { statusParents: StatusParent[] };

const backendRef = (ref: z.infer<typeof WireBackendRef>, namespace: string): BackendRef => ({
  group: ref.group ?? "",
  kind: ref.kind ?? "Service",
  namespace: ref.namespace ?? namespace,
  name: ref.name,
  weight: Math.max(0, ref.weight ?? 1),
});

function httpRouteInfo(raw: unknown): CachedRoute | undefined {
  const parsed = WireHttpRoute.safeParse(raw);
  if (!parsed.success) return undefined;
  const { metadata, spec, status } = parsed.data;
  const { namespace } = metadata;
  const rules: RouteRule[] = [];
  for (const rule of spec.rules ?? [{}]) {
    const written = rule.matches ?? [];
    // A match this mesh cannot hold (query parameters: its requests carry none) never holds; a
    // rule left with none takes nothing, rather than everything as a rule without matches does.
    const matches = written
      .filter((m) => !m.queryParams?.length)
      .map(routeMatch)
      .filter((m) => m !== undefined);
    if (written.length > 0 && matches.length === 0) continue;
    const mirrors: RouteRule["mirrors"] = [];
    for (const filter of rule.filters ?? []) {
      if (filter.type !== "RequestMirror" || !filter.requestMirror) continue;
      const { backendRef: ref, ...share } = filter.requestMirror;
      mirrors.push({ backend: backendRef(ref, namespace), share: mirrorShare(share) });
    }
    rules.push({
      ...(rule.name === undefined ? {} : { name: rule.name }),
      matches,
      backends: (rule.backendRefs ?? []).map((ref) => backendRef(ref, namespace)),
      mirrors,
    });
  }
  return {
    namespace,
    name: metadata.name,
    metadata: { namespace, name: metadata.name, resourceVersion: metadata.resourceVersion },
    generation: metadata.generation ?? 0,
    created: metadata.creationTimestamp ?? "",
    parents: (spec.parentRefs ?? []).map((ref) => ({
      group: ref.group ?? GATEWAY_GROUP,
      kind: ref.kind ?? "Gateway",
      namespace: ref.namespace ?? namespace,
      name: ref.name,
      ...(ref.port === undefined ? {} : { port: ref.port }),
      ...(ref.sectionName === undefined ? {} : { sectionName: ref.sectionName }),
      spec: ref,
    })),
    rules,
    statusParents: (status?.parents ?? []) as unknown as StatusParent[],
  };
}

export interface ClusterWatch {
  snapshot(): ClusterSnapshot;
  /**
   * Every (namespace, Service) the clients call: the apex of at least one TrafficSplit, or an
   * existing Service that is the parent of an HTTPRoute in its own namespace.
   */
  apexes(): { namespace: string; apex: string }[];
  stop(): Promise<void>;
}

export type WatchResult = { ok: true; watch: ClusterWatch } | { ok: false; reason: string };

/** Starts the caches and waits for their first lists; `namespace` undefined watches them all. */
export async function watchCluster(
  kubeConfig: KubeConfig,
  namespace: string | undefined,
  logger: Logger,
): Promise<WatchResult> {
  const client = new KubeClient(kubeConfig);
  const served = await servedSplitVersions(client);
  if (!served.ok) return { ok: false, reason: `${SPLIT_GROUP} discovery: ${served.error.message}` };
  const splitVersion = served.value[served.value.length - 1];
  if (!splitVersion) return { ok: false, reason: `the cluster serves no ${SPLIT_GROUP} version` };
  const groups = await client.get<{ versions?: { version: string }[] }>(`/apis/${SPECS_GROUP}`);
  const servedGroups = new Set(groups.ok ? groups.value.versions?.map((v) => v.version) : []);
  const routeGroupVersion = HTTP_ROUTE_GROUP_VERSIONS.filter((v) => servedGroups.has(v)).pop();
  const gateway = await client.get<{ versions?: { version: string }[] }>(`/apis/${GATEWAY_GROUP}`);
  const httpRoutesServed = gateway.ok && gateway.value.versions?.some((v) => v.version === "v1");

  const scope = namespace ? `/namespaces/${namespace}` : "";
  const informer = <T extends Named>(path: string, transform: (raw: unknown) => T | undefined) =>
    createInformer<T>({ kubeConfig, path, transform, logger });
  const deployments = informer(`/apis/apps/v1${scope}/deployments`, deploymentInfo);
  const services = informer(`/api/v1${scope}/services`, serviceInfo);
  const splits = informer(`/apis/${SPLIT_GROUP}/${splitVersion}${scope}/trafficsplits`, splitInfo);
  const routeGroups = routeGroupVersion
    ? informer(`/apis/${SPECS_GROUP}/${routeGroupVersion}${scope}/httproutegroups`, routeGroupInfo)
    : undefined;
  const httpRoutes = httpRoutesServed
    ? informer(`/apis/${GATEWAY_GROUP}/v1${scope}/httproutes`, httpRouteInfo)
    : undefined;
  const informers: Informer<Named>[] = [deployments, services, splits];
  if (routeGroups) informers.push(routeGroups);
  if (httpRoutes) informers.push(httpRoutes);
  await Promise.all(informers.map((i) => i.start()));
  logger.info(
    {
      splitVersion,
      routeGroupVersion,
      httpRoutes: httpRoutesServed ? "v1" : "not served",
      namespace,
    },
    "simulator caches synced",
  );

  const snapshot = (): ClusterSnapshot => {
    const byNamespace = new Map<string, DeploymentInfo[]>();
    for (const d of deployments.list()) {
      const list = byNamespace.get(d.namespace) ?? [];
      list.push(d);
      byNamespace.set(d.namespace, list);
    }
    const allSplits = splits.list();
    const allRoutes = httpRoutes?.list() ?? [];
    return {
      service: (ns, name) => services.get(ns, name),
      deployments: (ns) => byNamespace.get(ns) ?? [],
      splits: (ns, apex) => allSplits.filter((s) => s.namespace === ns && s.apex === apex),
      routeGroup: (ns, name) => routeGroups?.get(ns, name),
      httpRoutes: (ns) => allRoutes.filter((r) => r.namespace === ns),
    };
  };
  const status: RouteStatus | undefined =
    httpRoutes &&
    startRouteStatus({
      client,
      routes: httpRoutes,
      snapshot,
      logger,
    });
  if (status) services.onEvent(() => status.kick());

  return {
    ok: true,
    watch: {
      snapshot,
      apexes() {
        const seen = new Map<string, { namespace: string; apex: string }>();
        for (const s of splits.list())
          seen.set(`${s.namespace}/${s.apex}`, { namespace: s.namespace, apex: s.apex });
        const cluster = snapshot();
        for (const route of httpRoutes?.list() ?? [])
          for (const parent of route.parents)
            if (meshParent(cluster, route, parent))
              seen.set(`${parent.namespace}/${parent.name}`, {
                namespace: parent.namespace,
                apex: parent.name,
              });
        return [...seen.values()];
      },
      async stop() {
        await status?.stop();
        await Promise.all(informers.map((i) => i.stop()));
      },
    },
  };
}
