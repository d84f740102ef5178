// Registers a harness server with kube-apiserver's aggregator the way an extension apiserver
// (smi-metrics, metrics-server) is installed: an APIService pointing at a Service. What makes it
// work without a cluster network (measured on kube-apiserver 1.37):
// - the aggregator dials the Service's ClusterIP and port, and the harness's Service CIDR is on
//   loopback, so the Service gets a fixed loopback ClusterIP the server listens on;
// - its availability check wants an EndpointSlice with a ready endpoint, and EndpointSlices refuse
//   loopback addresses, so the slice carries a documentation address that is never dialled.

import { setTimeout as sleep } from "node:timers/promises";
import { METRICS_GROUP } from "../../../src/api/smi.ts";
import type { KubeClient } from "../../../src/kube/client.ts";
import { METRICS_VERSION } from "./traffic-metrics.ts";

/** An aggregated API group version and the Service in fledge-system the aggregator reaches it by. */
export type AggregatedApiService = {
  group: string;
  version: string;
  service: string;
  /** In the harness's Service CIDR (127.100.0.0/16), so the server can bind it. */
  clusterIP: string;
};

export const TRAFFIC_METRICS: AggregatedApiService = {
  group: METRICS_GROUP,
  version: METRICS_VERSION,
  service: "smi-metrics",
  clusterIP: "127.100.0.10",
};

const NAMESPACE = "fledge-system";
const NEVER_DIALLED = "192.0.2.10";
const apiServicePath = (api: AggregatedApiService) =>
  `/apis/apiregistration.k8s.io/v1/apiservices/${api.version}.${api.group}`;

type Result = { ok: true } | { ok: false; reason: string };

async function apply(client: KubeClient, path: string, body: unknown): Promise<Result> {
  const result = await client.patch(path, body, "apply");
  return result.ok
    ? { ok: true }
    : { ok: false, reason: `apply ${path}: ${result.error.reason}: ${result.error.message}` };
}

/** Creates or updates the Service, EndpointSlice and APIService for a server on `port`. */
export async function registerApiService(
  client: KubeClient,
  api: AggregatedApiService,
  port: number,
): Promise<Result> {
  const namespace = NAMESPACE;
  const name = api.service;
  // Created rather than applied: deploy/base/namespace.yaml applies the same Namespace, and an apply
  // here would take away the fields it set.
  const created = await client.create("/api/v1/namespaces", {
    apiVersion: "v1",
    kind: "Namespace",
    metadata: { name: namespace },
  });
  if (!created.ok && created.error.reason !== "AlreadyExists") {
    return { ok: false, reason: `create namespace ${namespace}: ${created.error.message}` };
  }
  const steps: [string, unknown][] = [
    [
      `/api/v1/namespaces/${namespace}/services/${name}`,
      {
        apiVersion: "v1",
        kind: "Service",
        metadata: { name, namespace },
        spec: {
          clusterIP: api.clusterIP,
          ports: [{ name: "https", port, targetPort: port, protocol: "TCP" }],
        },
      },
    ],
    [
      `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices/${name}`,
      {
        apiVersion: "discovery.k8s.io/v1",
        kind: "EndpointSlice",
        metadata: { name, namespace, labels: { "kubernetes.io/service-name": name } },
        addressType: "IPv4",
        endpoints: [{ addresses: [NEVER_DIALLED], conditions: { ready: true } }],
        ports: [{ name: "https", port, protocol: "TCP" }],
      },
    ],
    [
      apiServicePath(api),
      {
        apiVersion: "apiregistration.k8s.io/v1",
        kind: "APIService",
        metadata: { name: `${api.version}.${api.group}` },
        spec: {
          group: api.group,
          version: api.version,
          service: { namespace, name, port },
          insecureSkipTLSVerify: true,
          groupPriorityMinimum: 100,
          versionPriority: 100,
        },
      },
    ],
  ];
  for (const [path, body] of steps) {
    const applied = await apply(client, path, body);
    if (!applied.ok) return applied;
  }
  return { ok: true };
}

type ApiServiceStatus = {
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
};

/** Waits for the aggregator to call the APIService Available; the reason it gives if not. */
export async function awaitAvailable(
  client: KubeClient,
  api: AggregatedApiService,
  timeoutMs: number,
): Promise<Result> {
  const deadline = Date.now() + timeoutMs;
  let last = "no status yet";
  while (Date.now() < deadline) {
    const got = await client.get<ApiServiceStatus>(apiServicePath(api));
    const available = got.ok
      ? got.value.status?.conditions?.find((c) => c.type === "Available")
      : undefined;
    if (available?.status === "True") return { ok: true };
    if (available) last = `${available.reason}: ${available.message}`;
    else if (!got.ok) last = got.error.message;
    await sleep(100);
  }
  return {
    ok: false,
    reason: `APIService ${api.version}.${api.group} not Available after ${timeoutMs} ms: ${last}`,
  };
}

/** Takes the APIService away, so that discovery does not report a group nobody serves. */
export async function unregisterApiService(
  client: KubeClient,
  api: AggregatedApiService,
): Promise<void> {
  await client.delete(apiServicePath(api));
}
