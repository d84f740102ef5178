// Registers the simulator's TrafficMetrics server with kube-apiserver's aggregator the way
// smi-metrics is installed: an APIService pointing at a Service. What makes it work without a
// cluster network (measured on kube-apiserver 1.37):
// - the aggregator dials the Service's ClusterIP and port, and the harness's Service CIDR is on
//   loopback, so the Service gets a fixed loopback ClusterIP the simulator listens on;
// - its availability check wants an EndpointSlice with a ready endpoint, and EndpointSlices refuse
//   loopback addresses, so the slice carries a documentation address that is never dialled.

import { setTimeout as sleep } from "node:timers/promises";
import { METRICS_GROUP } from "../../../src/api/smi.ts";
import type { KubeClient } from "../../../src/kube/client.ts";
import { METRICS_VERSION } from "./traffic-metrics.ts";

const TRAFFIC_METRICS_NAMESPACE = "fledge-system";
const TRAFFIC_METRICS_SERVICE = "smi-metrics";
/** In the harness's Service CIDR (127.100.0.0/16), so the simulator can bind it. */
export const TRAFFIC_METRICS_CLUSTER_IP = "127.100.0.10";
const NEVER_DIALLED = "192.0.2.10";
const API_SERVICE = `${METRICS_VERSION}.${METRICS_GROUP}`;
const API_SERVICE_PATH = `/apis/apiregistration.k8s.io/v1/apiservices/${API_SERVICE}`;

type Result = { ok: true } | { ok: false; reason: string };

async function apply(client: KubeClient, path: string, body: unknown): Promise<Result> {
  const result = await client.patch(path, body, "apply");
  return result.ok
    ? { ok: true }
    : { ok: false, reason: `apply ${path}: ${result.error.reason}: ${result.error.message}` };
}

/** Creates or updates the Service, EndpointSlice and APIService for a server on `port`. */
export async function registerTrafficMetrics(client: KubeClient, port: number): Promise<Result> {
  const namespace = TRAFFIC_METRICS_NAMESPACE;
  const name = TRAFFIC_METRICS_SERVICE;
  // Created rather than applied: deploy/namespace.yaml applies the same Namespace, and an apply
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
          clusterIP: TRAFFIC_METRICS_CLUSTER_IP,
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
      API_SERVICE_PATH,
      {
        apiVersion: "apiregistration.k8s.io/v1",
        kind: "APIService",
        metadata: { name: API_SERVICE },
        spec: {
          group: METRICS_GROUP,
          version: METRICS_VERSION,
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
export async function awaitAvailable(client: KubeClient, timeoutMs: number): Promise<Result> {
  const deadline = Date.now() + timeoutMs;
  let last = "no status yet";
  while (Date.now() < deadline) {
    const got = await client.get<ApiServiceStatus>(API_SERVICE_PATH);
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
    reason: `APIService ${API_SERVICE} not Available after ${timeoutMs} ms: ${last}`,
  };
}

/** Takes the APIService away, so that discovery does not report a group nobody serves. */
export async function unregisterTrafficMetrics(client: KubeClient): Promise<void> {
  await client.delete(API_SERVICE_PATH);
}
