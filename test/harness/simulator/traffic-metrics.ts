// The documents of the metrics.smi-spec.io/v1alpha1 API in the shapes smi-metrics serves them
// (smi-sdk-go's types): TrafficMetrics, TrafficMetricsList, and the discovery documents the
// aggregator reads. Pure.

import { METRICS_GROUP } from "../../../src/api/smi.ts";
import { formatGoDuration, milliQuantity, parseGoDuration } from "./model.ts";
import type { WindowSummary } from "./request-log.ts";

export const METRICS_VERSION = "v1alpha1";
export const GROUP_VERSION = `${METRICS_GROUP}/${METRICS_VERSION}`;
/** smi-metrics' window when the query gives none or one it cannot read. */
const DEFAULT_WINDOW_MS = 30_000;

/**
 * The window a request asks for: smi-metrics reads the `t` query parameter as a Go duration
 * ("1m"); `window` is accepted too, for clients that name it after the field.
 */
export function windowOf(query: URLSearchParams): number {
  return parseGoDuration(query.get("t") ?? query.get("window")) ?? DEFAULT_WINDOW_MS;
}

/** RFC 3339 in whole seconds, as metav1.Time marshals. */
const rfc3339 = (time: Date) => time.toISOString().replace(/\.\d{3}Z$/, "Z");

const selfLink = (namespace: string, name?: string) =>
  `/apis/${GROUP_VERSION}/namespaces/${namespace}/deployments${name ? `/${name}` : ""}`;

const latency = (name: string, ms: number | undefined) => ({
  name,
  unit: "ms",
  // smi-metrics leaves a metric without samples null rather than 0.
  value: ms === undefined ? null : milliQuantity(ms),
});

export function trafficMetrics(
  namespace: string,
  name: string,
  summary: WindowSummary,
  now: Date,
  windowMs: number,
) {
  return {
    kind: "TrafficMetrics",
    apiVersion: GROUP_VERSION,
    metadata: {
      name,
      namespace,
      selfLink: selfLink(namespace, name),
      creationTimestamp: rfc3339(now),
    },
    timestamp: rfc3339(now),
    window: formatGoDuration(windowMs),
    resource: { kind: "Deployment", namespace, name },
    // All traffic the Deployment received, from any source.
    edge: { direction: "from", resource: null },
    metrics: [
      latency("p99_response_latency", summary.p99Ms),
      latency("p90_response_latency", summary.p90Ms),
      latency("p50_response_latency", summary.p50Ms),
      { name: "success_count", value: String(summary.successCount) },
      { name: "failure_count", value: String(summary.failureCount) },
    ],
  };
}

export function trafficMetricsList(namespace: string, items: unknown[]) {
  return {
    kind: "TrafficMetricsList",
    apiVersion: GROUP_VERSION,
    metadata: { selfLink: selfLink(namespace) },
    resource: { kind: "Deployment", namespace },
    items,
  };
}

export const API_RESOURCE_LIST = {
  kind: "APIResourceList",
  apiVersion: "v1",
  groupVersion: GROUP_VERSION,
  resources: [
    {
      name: "deployments",
      singularName: "",
      namespaced: true,
      kind: "TrafficMetrics",
      verbs: ["get", "list"],
    },
  ],
};

const groupVersion = { groupVersion: GROUP_VERSION, version: METRICS_VERSION };
export const API_GROUP = {
  kind: "APIGroup",
  apiVersion: "v1",
  name: METRICS_GROUP,
  versions: [groupVersion],
  preferredVersion: groupVersion,
};
export const API_GROUP_LIST = { kind: "APIGroupList", apiVersion: "v1", groups: [API_GROUP] };

/** A metav1.Status failure, which kubectl and client libraries read the reason from. */
export function status(code: number, reason: string, message: string) {
  return { kind: "Status", apiVersion: "v1", status: "Failure", message, reason, code };
}
