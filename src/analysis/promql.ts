import type { BUILTIN_METRICS, MESHES } from "../api/rollout.ts";

export type Mesh = (typeof MESHES)[number];
export type BuiltinMetric = (typeof BUILTIN_METRICS)[number];

/** What a query template may refer to, as {{name}}. */
export const QUERY_VARIABLES = ["namespace", "target", "canary", "interval"] as const;
export type QueryVars = Record<(typeof QUERY_VARIABLES)[number], string>;

/** A built-in metric's query and the query counting the requests its value rests on. */
export type BuiltinQuery = { value: string; requests: string };

/** PromQL durations: whole seconds where they are, milliseconds otherwise. */
export function promDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const PROM_UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** A Prometheus duration from its configuration ("15s", "1m30s", "2h"); undefined when malformed. */
export function parsePromDuration(text: string): number | undefined {
  if (!/^(\d+(ms|[smhdwy]))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, unit] of text.matchAll(/(\d+)(ms|[smhdwy])/g)) {
    total += Number(amount) * (PROM_UNIT_MS[unit ?? ""] ?? 0);
  }
  return total;
}

/**
 * How each mesh's proxies count the requests a Deployment served (server side, so a canary's
 * own outbound calls never count), which of them failed, and where their latency histogram is.
 */
type MeshSeries = {
  requests: string;
  selector: (v: QueryVars) => string;
  notFailed: string;
  buckets: string;
};

const MESH_SERIES: Record<Mesh, MeshSeries> = {
  linkerd: {
    requests: "response_total",
    selector: (v) => `namespace="${v.namespace}",deployment="${v.target}",direction="inbound"`,
    notFailed: `classification!="failure"`,
    buckets: "response_latency_ms_bucket",
  },
  // Istio's names; Envoy-based meshes that export Istio's standard metrics use them too.
  envoy: {
    requests: "istio_requests_total",
    selector: (v) =>
      `reporter="destination",destination_workload_namespace="${v.namespace}",destination_workload="${v.target}"`,
    notFailed: `response_code!~"5.."`,
    buckets: "istio_request_duration_milliseconds_bucket",
  },
  // OSM's sidecars: Envoy's cluster stats, labelled by OSM's scrape config with the pod's
  // workload; the inbound clusters (to the pod's own app) end in "|local".
  osm: {
    requests: "envoy_cluster_upstream_rq_xx",
    selector: (v) =>
      `source_namespace="${v.namespace}",source_workload_name="${v.target}",envoy_cluster_name=~".+[|]local"`,
    notFailed: `envoy_response_code_class!="5"`,
    buckets: "envoy_cluster_upstream_rq_time_bucket",
  },
};

const QUANTILE: Record<Exclude<BuiltinMetric, "request-success-rate">, string> = {
  "request-duration-p50-ms": "0.5",
  "request-duration-p90-ms": "0.9",
  "request-duration-p99-ms": "0.99",
};

/**
 * Per series, what a counter counted in the window. increase() alone misses a series that first
 * appears inside the window: with one sample it has no increase at all, and with more it counts
 * from its first sample, never from the zero it started at. A canary's first failures (or a new
 * pod's first requests) are such a series, so a check with 10% errors read 100%. A series that
 * had no sample at the window's start is therefore counted from 0, as its last value; the
 * others by increase(), as before.
 */
function counted(series: string, interval: string): string {
  const existed = `${series} offset ${interval}`;
  return `((increase(${series}[${interval}]) and ${existed}) or (last_over_time(${series}[${interval}]) unless ${existed}))`;
}

/** The PromQL counting the requests the Deployment `v.target` served in the window. */
export function requestsQuery(mesh: Mesh, v: QueryVars): string {
  const s = MESH_SERIES[mesh];
  return `sum(${counted(`${s.requests}{${s.selector(v)}}`, v.interval)})`;
}

/**
 * The PromQL for a built-in metric on a mesh: a percentage 0..100 or milliseconds. The success
 * rate and the request count count the same requests, so the count says what the rate rests on.
 */
export function builtinQuery(mesh: Mesh, metric: BuiltinMetric, v: QueryVars): BuiltinQuery {
  const s = MESH_SERIES[mesh];
  const sel = s.selector(v);
  const requests = requestsQuery(mesh, v);
  if (metric === "request-success-rate") {
    return {
      value: `sum(${counted(`${s.requests}{${sel},${s.notFailed}}`, v.interval)}) / ${requests} * 100`,
      requests,
    };
  }
  return {
    value: `histogram_quantile(${QUANTILE[metric]}, sum by (le) (${counted(`${s.buckets}{${sel}}`, v.interval)}))`,
    requests,
  };
}

// Dotted names too, so that {{args.x}} outside a template is named as what it is, not sent on.
const VARIABLE = /\{\{\s*([A-Za-z_][A-Za-z0-9_.]*)\s*\}\}/g;

/** The names a query template refers to that are not variables, each once. */
export function unknownVariables(template: string): string[] {
  const known = new Set<string>(QUERY_VARIABLES);
  return [...new Set([...template.matchAll(VARIABLE)].map((m) => m[1] ?? ""))].filter(
    (n) => !known.has(n),
  );
}

/** Why a query template that refers to these names cannot be filled, naming those that exist. */
export function unknownVariablesReason(unknown: readonly string[]): string {
  const braced = (names: readonly string[]) => names.map((n) => `{{${n}}}`).join(", ");
  return `the query uses ${braced(unknown)}; the variables are ${braced(QUERY_VARIABLES)}`;
}

/**
 * Fills a user's query template. An unknown name is refused with the names that exist, since
 * Prometheus would otherwise answer with a parse error far from the typo.
 */
export function renderQuery(
  template: string,
  vars: QueryVars,
): { ok: true; query: string } | { ok: false; reason: string } {
  const unknown = unknownVariables(template);
  if (unknown.length > 0) return { ok: false, reason: unknownVariablesReason(unknown) };
  return {
    ok: true,
    query: template.replace(VARIABLE, (_whole, name: string) => vars[name as keyof QueryVars]),
  };
}
