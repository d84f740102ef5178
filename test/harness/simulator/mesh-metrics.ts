// The request metrics each mesh's proxies export, in their own names and label shapes, so that a
// Prometheus query written for Linkerd, Istio or Open Service Mesh works here unchanged. All are
// server-side (inbound) views of the Deployment that served the request.

import { Counter, Histogram, Registry } from "prom-client";

/** One request as the serving side saw it. */
export interface ServedRequest {
  namespace: string;
  /** The Deployment whose pods answered. */
  deployment: string;
  /** The pod template's `app` label, which OSM's scrape config copies to source_service. */
  app: string | undefined;
  /** The Service the request was routed to (a split backend, or the apex for unsplit traffic). */
  service: string;
  /** The apex Service the client called. */
  apex: string;
  /** The port of the Service the request was routed to. */
  port: number;
  status: number;
  latencyMs: number;
  /** The TrafficSplit that routed it ("" for none), for the simulator's own counter. */
  split: string;
  /** The HTTPRoute that routed it ("" for none), for the simulator's own counter. */
  route: string;
  /** "plain", or the route match ("GROUP/MATCH", "HTTPROUTE/RULE/INDEX") it was made to satisfy. */
  kind: string;
  /** A copy a RequestMirror filter made: served and counted, its answer dropped. */
  mirrored: boolean;
}

/** A request no Deployment served, for the simulator's own counter. */
export interface UnroutableRequest {
  namespace: string;
  split: string;
  route: string;
  service: string;
  kind: string;
  mirrored: boolean;
}

// linkerd2-proxy's latency buckets (milliseconds).
const LINKERD_BUCKETS = [
  1, 2, 3, 4, 5, 10, 20, 30, 40, 50, 100, 200, 300, 400, 500, 1000, 2000, 3000, 4000, 5000, 10000,
  20000, 30000, 40000, 50000,
];
// Envoy's default histogram buckets, which Istio's and OSM's latency metrics use (milliseconds).
const ENVOY_BUCKETS = [
  0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000,
  1800000, 3600000,
];

const LINKERD = ["namespace", "deployment", "direction", "tls", "authority"] as const;
const ISTIO = [
  "reporter",
  "source_workload",
  "source_workload_namespace",
  "destination_workload",
  "destination_workload_namespace",
  "destination_app",
  "destination_service",
  "destination_service_name",
  "destination_service_namespace",
  "request_protocol",
  "response_code",
  "response_flags",
  "connection_security_policy",
] as const;
// The labels OSM's Prometheus scrape config puts on a pod's Envoy metrics, plus Envoy's own.
const OSM_ENVOY = [
  "source_namespace",
  "source_workload_kind",
  "source_workload_name",
  "source_service",
  "envoy_cluster_name",
] as const;
// OSM before v1.0 also exported these from its WASM stats extension; Flagger's OSM provider and
// smi-metrics' OSM configuration query them.
const OSM_WASM = [
  "destination_namespace",
  "destination_kind",
  "destination_name",
  "response_code",
] as const;

export interface MeshMetrics {
  registry: Registry;
  record(request: ServedRequest): void;
  unroutable(request: UnroutableRequest): void;
}

export function createMeshMetrics(): MeshMetrics {
  const registry = new Registry();
  const registers = [registry];

  const linkerdRequests = new Counter({
    name: "request_total",
    help: "Linkerd: requests received, by the destination proxy (direction=inbound)",
    labelNames: LINKERD,
    registers,
  });
  const linkerdResponses = new Counter({
    name: "response_total",
    help: "Linkerd: responses sent, with classification success|failure",
    labelNames: [...LINKERD, "classification", "status_code"],
    registers,
  });
  const linkerdLatency = new Histogram({
    name: "response_latency_ms",
    help: "Linkerd: time from request headers to response end, in milliseconds",
    labelNames: [...LINKERD, "status_code"],
    buckets: LINKERD_BUCKETS,
    registers,
  });

  const istioRequests = new Counter({
    name: "istio_requests_total",
    help: "Istio: requests handled by a proxy",
    labelNames: ISTIO,
    registers,
  });
  const istioDuration = new Histogram({
    name: "istio_request_duration_milliseconds",
    help: "Istio: request duration in milliseconds",
    labelNames: ISTIO,
    buckets: ENVOY_BUCKETS,
    registers,
  });

  const envoyTotal = new Counter({
    name: "envoy_cluster_upstream_rq_total",
    help: "Envoy (OSM): requests to the cluster",
    labelNames: OSM_ENVOY,
    registers,
  });
  const envoyClass = new Counter({
    name: "envoy_cluster_upstream_rq_xx",
    help: "Envoy (OSM): requests to the cluster by response code class",
    labelNames: [...OSM_ENVOY, "envoy_response_code_class"],
    registers,
  });
  const envoyCode = new Counter({
    name: "envoy_cluster_upstream_rq",
    help: "Envoy (OSM): requests to the cluster by response code",
    labelNames: [...OSM_ENVOY, "envoy_response_code"],
    registers,
  });
  const envoyTime = new Histogram({
    name: "envoy_cluster_upstream_rq_time",
    help: "Envoy (OSM): request time to the cluster, in milliseconds",
    labelNames: OSM_ENVOY,
    buckets: ENVOY_BUCKETS,
    registers,
  });

  const osmRequests = new Counter({
    name: "osm_request_total",
    help: "OSM (WASM stats, before v1.0): requests by destination workload",
    labelNames: OSM_WASM,
    registers,
  });
  const osmDuration = new Histogram({
    name: "osm_request_duration_ms",
    help: "OSM (WASM stats, before v1.0): request duration in milliseconds",
    labelNames: OSM_WASM,
    buckets: ENVOY_BUCKETS,
    registers,
  });

  const simRequests = new Counter({
    name: "fledge_sim_requests_total",
    help: "Simulator: requests to the Services clients call (apexes of TrafficSplits, parents of HTTPRoutes), by the TrafficSplit or HTTPRoute that routed them (empty for none), the kind of request, the Service and Deployment that served them, and whether a RequestMirror filter made the request as a copy whose answer is dropped",
    labelNames: [
      "namespace",
      "split",
      "route",
      "service",
      "deployment",
      "status_code",
      "request_kind",
      "mirrored",
    ],
    registers,
  });
  const simUnroutable = new Counter({
    name: "fledge_sim_unroutable_requests_total",
    help: "Simulator: requests no Deployment served: for a Service that is missing or selects no ready Deployment, no backend with weight, or no HTTPRoute rule matching (a mesh answers 5xx or 404)",
    labelNames: ["namespace", "split", "route", "service", "request_kind", "mirrored"],
    registers,
  });

  return {
    registry,
    record(r) {
      const code = String(r.status);
      const linkerd = {
        namespace: r.namespace,
        deployment: r.deployment,
        direction: "inbound",
        tls: "true",
        authority: `${r.apex}.${r.namespace}.svc.cluster.local:${r.port}`,
      };
      linkerdRequests.inc(linkerd);
      linkerdResponses.inc({
        ...linkerd,
        classification: r.status >= 500 ? "failure" : "success",
        status_code: code,
      });
      linkerdLatency.observe({ ...linkerd, status_code: code }, r.latencyMs);

      const istio = {
        reporter: "destination",
        source_workload: "unknown",
        source_workload_namespace: "unknown",
        destination_workload: r.deployment,
        destination_workload_namespace: r.namespace,
        destination_app: r.app ?? "unknown",
        destination_service: `${r.service}.${r.namespace}.svc.cluster.local`,
        destination_service_name: r.service,
        destination_service_namespace: r.namespace,
        request_protocol: "http",
        response_code: code,
        response_flags: "-",
        connection_security_policy: "mutual_tls",
      };
      istioRequests.inc(istio);
      istioDuration.observe(istio, r.latencyMs);

      const envoy: Partial<Record<(typeof OSM_ENVOY)[number], string>> = {
        source_namespace: r.namespace,
        source_workload_kind: "Deployment",
        source_workload_name: r.deployment,
        // The inbound cluster OSM's sidecar forwards to its own pod on.
        envoy_cluster_name: `${r.namespace}/${r.service}|${r.port}|local`,
      };
      if (r.app !== undefined) envoy.source_service = r.app;
      envoyTotal.inc(envoy);
      envoyClass.inc({ ...envoy, envoy_response_code_class: code[0] ?? "" });
      envoyCode.inc({ ...envoy, envoy_response_code: code });
      envoyTime.observe(envoy, r.latencyMs);

      const osm = {
        destination_namespace: r.namespace,
        destination_kind: "Deployment",
        destination_name: r.deployment,
        response_code: code,
      };
      osmRequests.inc(osm);
      osmDuration.observe(osm, r.latencyMs);

      simRequests.inc({
        namespace: r.namespace,
        split: r.split,
        route: r.route,
        service: r.service,
        deployment: r.deployment,
        status_code: code,
        request_kind: r.kind,
        mirrored: String(r.mirrored),
      });
    },
    unroutable(r) {
      simUnroutable.inc({
        namespace: r.namespace,
        split: r.split,
        route: r.route,
        service: r.service,
        request_kind: r.kind,
        mirrored: String(r.mirrored),
      });
    },
  };
}
