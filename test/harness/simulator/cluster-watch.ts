// The simulator's view of the cluster: list+watch caches of TrafficSplits (in the newest served
// version: with the CRD's None conversion every split shows up there, whatever version wrote it),
// HTTPRouteGroups, Services and Deployments, turned into a routing snapshot on demand.

import type { KubeConfig } from "@kubernetes/client-node";
import { HTTP_ROUTE_GROUP_VERSIONS, SPECS_GROUP, SPLIT_GROUP } from "../../../src/api/smi.ts";
import { KubeClient } from "../../../src/kube/client.ts";
import { createInformer, type Informer } from "../../../src/kube/informer.ts";
import { serviceView } from "../../../src/kube/service.ts";
import type { Logger } from "../../../src/observability/logger.ts";
import { splitView } from "../../../src/traffic/smi/router.ts";
import { servedSplitVersions } from "../../../src/traffic/smi/versions.ts";
import { readMatches } from "./model.ts";
import type {
  ClusterSnapshot,
  DeploymentInfo,
  RouteGroupInfo,
  ServiceInfo,
  SplitInfo,
} from "./routing.ts";

type Named = { metadata: { name: string; namespace: string } };
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

export interface ClusterWatch {
  snapshot(): ClusterSnapshot;
  /** Every (namespace, apex) that has at least one TrafficSplit. */
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

  const scope = namespace ? `/namespaces/${namespace}` : "";
  const informer = <T extends Named>(path: string, transform: (raw: unknown) => T | undefined) =>
    createInformer<T>({ kubeConfig, path, transform, logger });
  const deployments = informer(`/apis/apps/v1${scope}/deployments`, deploymentInfo);
  const services = informer(`/api/v1${scope}/services`, serviceInfo);
  const splits = informer(`/apis/${SPLIT_GROUP}/${splitVersion}${scope}/trafficsplits`, splitInfo);
  const routeGroups = routeGroupVersion
    ? informer(`/apis/${SPECS_GROUP}/${routeGroupVersion}${scope}/httproutegroups`, routeGroupInfo)
    : undefined;
  const informers: Informer<Named>[] = [deployments, services, splits];
  if (routeGroups) informers.push(routeGroups);
  await Promise.all(informers.map((i) => i.start()));
  logger.info({ splitVersion, routeGroupVersion, namespace }, "simulator caches synced");

  return {
    ok: true,
    watch: {
      snapshot() {
        const byNamespace = new Map<string, DeploymentInfo[]>();
        for (const d of deployments.list()) {
          const list = byNamespace.get(d.namespace) ?? [];
          list.push(d);
          byNamespace.set(d.namespace, list);
        }
        const allSplits = splits.list();
        return {
          service: (ns, name) => services.get(ns, name),
          deployments: (ns) => byNamespace.get(ns) ?? [],
          splits: (ns, apex) => allSplits.filter((s) => s.namespace === ns && s.apex === apex),
          routeGroup: (ns, name) => routeGroups?.get(ns, name),
        };
      },
      apexes() {
        const seen = new Map<string, { namespace: string; apex: string }>();
        for (const s of splits.list())
          seen.set(`${s.namespace}/${s.apex}`, { namespace: s.namespace, apex: s.apex });
        return [...seen.values()];
      },
      async stop() {
        await Promise.all(informers.map((i) => i.stop()));
      },
    },
  };
}
