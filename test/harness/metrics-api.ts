// The resource metrics API (metrics.k8s.io/v1beta1) as metrics-server serves it, enough for
// kube-controller-manager's horizontal-pod-autoscaler controller: a PodMetricsList per label
// selector, each Running pod with a CPU usage a test chooses. The choice lives in the cluster,
// in a ConfigMap of the test's namespace (keys: a Deployment's or a pod's name; values: a CPU
// quantity), so a test in any worker process sets it with one apply and this server, in the
// tier's set-up, needs no channel of its own.

import type { KubeClient } from "../../src/kube/client.ts";
import type { Logger } from "../../src/observability/logger.ts";
import { type AggregatedApi, serveAggregatedApi } from "./simulator/aggregated-api.ts";
import {
  type AggregatedApiService,
  awaitAvailable,
  registerApiService,
  unregisterApiService,
} from "./simulator/registration.ts";
import { status } from "./simulator/traffic-metrics.ts";

const GROUP = "metrics.k8s.io";
const VERSION = "v1beta1";
const GROUP_VERSION = `${GROUP}/${VERSION}`;
export const RESOURCE_METRICS: AggregatedApiService = {
  group: GROUP,
  version: VERSION,
  service: "metrics-server",
  clusterIP: "127.100.0.11",
};
/** The ConfigMap a test writes the CPU its pods use into. */
export const CPU_CONFIGMAP = "fledge-test-cpu";
/** What a pod uses when its ConfigMap names neither it nor its Deployment. */
const IDLE_CPU = "0";
/**
 * Short, so a sample counts soon after a pod turns Ready: the replica calculator ignores one taken
 * less than a window after the pod's Ready transition.
 */
const WINDOW = "1s";

const RESOURCES = {
  kind: "APIResourceList",
  apiVersion: "v1",
  groupVersion: GROUP_VERSION,
  resources: [
    {
      name: "nodes",
      singularName: "",
      namespaced: false,
      kind: "NodeMetrics",
      verbs: ["get", "list"],
    },
    {
      name: "pods",
      singularName: "",
      namespaced: true,
      kind: "PodMetrics",
      verbs: ["get", "list"],
    },
  ],
};
const GROUP_DOC = {
  kind: "APIGroup",
  apiVersion: "v1",
  name: GROUP,
  versions: [{ groupVersion: GROUP_VERSION, version: VERSION }],
  preferredVersion: { groupVersion: GROUP_VERSION, version: VERSION },
};

type Pod = {
  metadata: {
    name: string;
    namespace: string;
    labels?: Record<string, string>;
    creationTimestamp?: string;
    ownerReferences?: { kind: string; name: string }[];
  };
  spec: { containers: { name: string }[] };
  status?: { phase?: string };
};

/** The Deployment a pod belongs to: its ReplicaSet's name without the template hash. */
function deploymentOf(pod: Pod): string | undefined {
  const rs = pod.metadata.ownerReferences?.find((o) => o.kind === "ReplicaSet")?.name;
  return rs?.slice(0, rs.lastIndexOf("-"));
}

/** As metrics-server reports a pod: all its CPU on the first container, at this instant. */
function podMetrics(pod: Pod, cpu: string, now: Date) {
  return {
    metadata: {
      name: pod.metadata.name,
      namespace: pod.metadata.namespace,
      labels: pod.metadata.labels,
      creationTimestamp: now.toISOString(),
    },
    timestamp: now.toISOString(),
    window: WINDOW,
    containers: pod.spec.containers.map((c, i) => ({
      name: c.name,
      usage: { cpu: i === 0 ? cpu : "0", memory: "16Mi" },
    })),
  };
}

async function answer(client: KubeClient, path: string, query: URLSearchParams) {
  switch (path) {
    case "/healthz":
    case "/readyz":
    case "/livez":
      return { code: 200, body: "ok" };
    case `/apis/${GROUP}`:
      return { code: 200, body: GROUP_DOC };
    case `/apis/${GROUP_VERSION}`:
      return { code: 200, body: RESOURCES };
  }
  const match = new RegExp(`^/apis/${GROUP_VERSION}/namespaces/([^/]+)/pods(?:/([^/]+))?$`).exec(
    path,
  );
  if (!match) return { code: 404, body: status(404, "NotFound", `${path} is not served here`) };
  const namespace = decodeURIComponent(match[1] ?? "");
  const one = match[2] === undefined ? undefined : decodeURIComponent(match[2]);
  const selector = query.get("labelSelector");
  const [pods, cpu] = await Promise.all([
    client.request<{ items: Pod[] }>(
      "GET",
      `/api/v1/namespaces/${namespace}/pods`,
      undefined,
      undefined,
      selector ? { labelSelector: selector } : {},
    ),
    client.get<{ data?: Record<string, string> }>(
      `/api/v1/namespaces/${namespace}/configmaps/${CPU_CONFIGMAP}`,
    ),
  ]);
  if (!pods.ok) return { code: 500, body: status(500, "InternalError", pods.error.message) };
  const chosen = cpu.ok ? (cpu.value.data ?? {}) : {};
  const now = new Date();
  const items = pods.value.items
    .filter((p) => p.status?.phase === "Running" && (one === undefined || p.metadata.name === one))
    .map((p) =>
      podMetrics(p, chosen[p.metadata.name] ?? chosen[deploymentOf(p) ?? ""] ?? IDLE_CPU, now),
    );
  if (one !== undefined)
    return items[0]
      ? { code: 200, body: { kind: "PodMetrics", apiVersion: GROUP_VERSION, ...items[0] } }
      : { code: 404, body: status(404, "NotFound", `podmetrics ${one} not found`) };
  return {
    code: 200,
    body: { kind: "PodMetricsList", apiVersion: GROUP_VERSION, metadata: {}, items },
  };
}

export type ResourceMetricsApi = { stop(): Promise<void> };

/**
 * Serves the API with the apiserver's own serving certificate (the aggregator does not verify
 * it), registers its APIService and waits until the aggregator calls it Available: an
 * unavailable aggregated API would fail discovery for the garbage collector and the namespace
 * controller.
 */
export async function startResourceMetrics(
  client: KubeClient,
  tls: { cert: string; key: string },
  logger: Logger,
): Promise<ResourceMetricsApi> {
  const server: AggregatedApi = await serveAggregatedApi(
    RESOURCE_METRICS.clusterIP,
    tls,
    (path, query) => answer(client, path, query),
    logger,
  );
  const stop = async () => {
    // Bounded: the apiserver may already be gone when a run ends.
    await Promise.race([
      unregisterApiService(client, RESOURCE_METRICS),
      new Promise<void>((r) => setTimeout(r, 3000).unref()),
    ]);
    await server.close();
  };
  for (const step of [
    () => registerApiService(client, RESOURCE_METRICS, server.port),
    () => awaitAvailable(client, RESOURCE_METRICS, 30_000),
  ]) {
    const done = await step();
    if (!done.ok) {
      await stop();
      throw new Error(done.reason);
    }
  }
  return { stop };
}

/** Makes the pods of a Deployment (or the pod of that name) use `cpu`, e.g. "400m". */
export async function setCpu(
  client: KubeClient,
  namespace: string,
  name: string,
  cpu: string,
): Promise<void> {
  const path = `/api/v1/namespaces/${namespace}/configmaps/${CPU_CONFIGMAP}`;
  // A merge patch keeps the other names' values, which an apply of one would drop.
  let done = await client.patch(path, { data: { [name]: cpu } });
  if (!done.ok && done.error.status === 404)
    done = await client.create(`/api/v1/namespaces/${namespace}/configmaps`, {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: CPU_CONFIGMAP, namespace },
      data: { [name]: cpu },
    });
  if (!done.ok) throw new Error(`setting ${namespace}/${name}'s CPU: ${done.error.message}`);
}
