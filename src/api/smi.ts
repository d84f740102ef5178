import { z } from "zod";
import { DnsLabel, ObjectMeta } from "./common.ts";
import { parseQuantity } from "./quantity.ts";

export const SPLIT_GROUP = "split.smi-spec.io";
export const SPECS_GROUP = "specs.smi-spec.io";
export const METRICS_GROUP = "metrics.smi-spec.io";

const Quantity = z
  .union([z.int().min(0), z.string()])
  .refine((q) => parseQuantity(q) !== undefined, {
    error: 'must be a quantity such as "100", "500m" or "1k"',
  });

const backends = <W extends z.ZodType>(weight: W) =>
  z.array(z.object({ service: DnsLabel, weight })).min(1);

// smi-sdk-go's TrafficSplit CRDs know only kind and name here; a CRD that prunes would drop
// anything else.
const RouteRef = z.object({ kind: z.literal("HTTPRouteGroup"), name: DnsLabel });

/** split.smi-spec.io v1alpha1: weights are resource quantities ("500m" is half a unit). */
export const TrafficSplitV1alpha1Spec = z.object({
  service: DnsLabel,
  backends: backends(Quantity),
});
/** v1alpha2 made the weights plain integers. */
export const TrafficSplitV1alpha2Spec = z.object({
  service: DnsLabel,
  backends: backends(z.int().min(0)),
});
/** v1alpha3 and v1alpha4 add matches, which restrict the split to requests an HTTPRouteGroup matches. */
export const TrafficSplitV1alpha3Spec = TrafficSplitV1alpha2Spec.extend({
  matches: z.array(RouteRef).optional(),
});

export const TRAFFIC_SPLIT_SPECS = {
  v1alpha1: TrafficSplitV1alpha1Spec,
  v1alpha2: TrafficSplitV1alpha2Spec,
  v1alpha3: TrafficSplitV1alpha3Spec,
  v1alpha4: TrafficSplitV1alpha3Spec,
} as const;
export type SplitVersion = keyof typeof TRAFFIC_SPLIT_SPECS;
export const SPLIT_VERSIONS = Object.keys(TRAFFIC_SPLIT_SPECS) as SplitVersion[];

export const TrafficSplit = z.object({
  apiVersion: z.enum(SPLIT_VERSIONS.map((v) => `${SPLIT_GROUP}/${v}`) as [string, ...string[]]),
  kind: z.literal("TrafficSplit"),
  metadata: ObjectMeta,
  spec: z.union([TrafficSplitV1alpha3Spec, TrafficSplitV1alpha1Spec]),
});
export type TrafficSplit = z.infer<typeof TrafficSplit>;

/** The methods smi-sdk-go's HTTPRouteGroup CRD allows; "*" is any. */
export const HTTP_METHODS = [
  "*",
  "GET",
  "HEAD",
  "PUT",
  "POST",
  "DELETE",
  "CONNECT",
  "OPTIONS",
  "TRACE",
  "PATCH",
] as const;

/**
 * One match of an HTTPRouteGroup as it is on the wire. `headers` is a list of header filters,
 * each a map of one header name to a regex of its value, all of which a request must satisfy:
 * the shape of smi-sdk-go's CRD and of its Go type, which reads the list into one map and refuses
 * an item with more than one header, in every specs version that has headers (v1alpha2 on).
 */
export const HttpMatch = z.object({
  name: DnsLabel,
  methods: z.array(z.enum(HTTP_METHODS)).optional(),
  pathRegex: z.string().optional(),
  headers: z.array(z.record(z.string(), z.string())).optional(),
});
export type HttpMatch = z.infer<typeof HttpMatch>;

/** specs.smi-spec.io v1alpha3/v1alpha4 HTTPRouteGroup: the request matches a split can refer to. */
export const HTTPRouteGroupSpec = z.object({ matches: z.array(HttpMatch).min(1) });
export const HTTP_ROUTE_GROUP_VERSIONS = ["v1alpha3", "v1alpha4"] as const;

export const HTTPRouteGroup = z.object({
  apiVersion: z.enum(
    HTTP_ROUTE_GROUP_VERSIONS.map((v) => `${SPECS_GROUP}/${v}`) as [string, ...string[]],
  ),
  kind: z.literal("HTTPRouteGroup"),
  metadata: ObjectMeta,
  spec: HTTPRouteGroupSpec,
});
export type HTTPRouteGroup = z.infer<typeof HTTPRouteGroup>;

const ResourceRef = z.object({
  kind: z.string(),
  name: z.string(),
  namespace: z.string().optional(),
});

/** metrics.smi-spec.io v1alpha1 TrafficMetrics, served by an aggregated API (read only). */
export const TrafficMetrics = z.object({
  kind: z.literal("TrafficMetrics"),
  apiVersion: z.string().optional(),
  resource: ResourceRef,
  edge: z.object({ direction: z.string(), resource: ResourceRef.nullish() }).optional(),
  timestamp: z.string(),
  window: z.string(),
  metrics: z.array(
    z.object({ name: z.string(), unit: z.string().optional(), value: Quantity.nullish() }),
  ),
});
export type TrafficMetrics = z.infer<typeof TrafficMetrics>;
