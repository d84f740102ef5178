// The simulator's pure parts: random numbers, a Deployment's behaviour from its annotations, and
// the request matches of HTTPRouteGroups and of Gateway API HTTPRoutes. No I/O and no clock
// here, so they can be tested alone.

import { z } from "zod";
import { HttpMatch as WireMatch } from "../../../src/api/smi.ts";

export const SUCCESS_RATE_ANNOTATION = "fledge.dev/sim-success-rate";
export const LATENCY_ANNOTATION = "fledge.dev/sim-latency-ms";
/**
 * On a Service: the simulated mesh refuses the HTTPRoutes whose parent it is, with the value as
 * the reason of their Accepted=False condition (e.g. "NotAllowedByListeners"); they route nothing.
 */
export const REFUSE_ROUTES_ANNOTATION = "fledge.dev/sim-refuse-routes";
/**
 * On a Service: the simulated mesh routes it as one that does not honour TrafficSplits or
 * HTTPRoutes (not installed, the wrong version, a bug): its own selector serves every request,
 * while the routes' status says what it always says. Any value turns it on.
 */
export const IGNORE_SPLITS_ANNOTATION = "fledge.dev/sim-ignore-splits";
export const GATEWAY_GROUP = "gateway.networking.k8s.io";
/** The controllerName of the simulated mesh's entries in an HTTPRoute's status.parents. */
export const SIMULATED_MESH_CONTROLLER = "fledge.dev/simulated-mesh";
export const DEFAULT_P50_MS = 10;
export const DEFAULT_P99_MS = 50;
/** A failed request answers with this status, so every mesh's query classifies it as a failure. */
export const FAILURE_STATUS = 500;
export const SUCCESS_STATUS = 200;

/** A uniform [0, 1) generator. */
export type Random = () => number;

/** sfc32 (Chris Doty-Humphrey's small fast counting generator): tiny, fast, good enough here. */
export function seededRandom(seed: number | string): Random {
  let h = 1779033703 ^ 0;
  const text = String(seed);
  for (let i = 0; i < text.length; i++) {
    h = Math.imul(h ^ text.charCodeAt(i), 3432918353);
    h = (h << 13) | (h >>> 19);
  }
  const next = () => {
    h = Math.imul(h ^ (h >>> 16), 2246822507);
    h = Math.imul(h ^ (h >>> 13), 3266489909);
    h ^= h >>> 16;
    return h >>> 0;
  };
  let a = next();
  let b = next();
  let c = next();
  let d = next();
  return () => {
    a >>>= 0;
    b >>>= 0;
    c >>>= 0;
    d >>>= 0;
    let t = (a + b) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    d = (d + 1) | 0;
    t = (t + d) | 0;
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
}

/** A standard normal deviate (Box-Muller; the second deviate is dropped for simplicity). */
function normal(random: Random): number {
  const u = 1 - random(); // (0, 1]: log(0) would be -Infinity
  const v = random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

/** The standard normal's 0.99 quantile: p99 = p50 * exp(Z99 * sigma) for a log-normal. */
const Z99 = 2.326347874;

/** How a Deployment's pods answer, read from its pod template's annotations. */
export interface Behaviour {
  successRate: number;
  p50Ms: number;
  p99Ms: number;
  /** Annotation values that could not be read and so fell back to defaults; for a warning. */
  problems: string[];
}

export function behaviourOf(annotations: Record<string, string> | undefined): Behaviour {
  const problems: string[] = [];
  let successRate = 1;
  const rate = annotations?.[SUCCESS_RATE_ANNOTATION];
  if (rate !== undefined) {
    const n = Number(rate.trim());
    if (rate.trim() !== "" && Number.isFinite(n) && n >= 0 && n <= 1) successRate = n;
    else
      problems.push(`${SUCCESS_RATE_ANNOTATION}=${JSON.stringify(rate)} is not a number in 0..1`);
  }
  let p50: number | undefined;
  let p99: number | undefined;
  const latency = annotations?.[LATENCY_ANNOTATION];
  if (latency !== undefined) {
    for (const part of latency.split(",")) {
      const m = /^\s*(p50|p99)\s*=\s*(\d+(?:\.\d+)?)\s*(?:ms)?\s*$/.exec(part);
      if (!m) {
        problems.push(`${LATENCY_ANNOTATION}: cannot read ${JSON.stringify(part.trim())}`);
        continue;
      }
      if (m[1] === "p50") p50 = Number(m[2]);
      else p99 = Number(m[2]);
    }
  }
  // One quantile alone keeps the default spread (p99 = 5 x p50).
  const spread = DEFAULT_P99_MS / DEFAULT_P50_MS;
  const p50Ms = p50 ?? (p99 !== undefined ? p99 / spread : DEFAULT_P50_MS);
  const p99Ms = Math.max(p99 ?? p50Ms * spread, p50Ms);
  return { successRate, p50Ms, p99Ms, problems };
}

/** A latency drawn from the log-normal whose median is p50 and whose 0.99 quantile is p99. */
export function sampleLatencyMs(behaviour: Behaviour, random: Random): number {
  const { p50Ms, p99Ms } = behaviour;
  if (p50Ms <= 0) return 0;
  const sigma = Math.log(p99Ms / p50Ms) / Z99;
  return p50Ms * Math.exp(sigma * normal(random));
}

/** One simulated request's attributes, as an HTTPRouteGroup match would see them. */
export interface RequestAttributes {
  method: string;
  path: string;
  headers: Record<string, string>;
}

export interface HttpMatch {
  name: string;
  methods?: string[];
  pathRegex?: string;
  headers?: Record<string, string>;
}

/**
 * An HTTPRouteGroup's spec.matches read as smi-sdk-go's Go type reads them (which meshes such as
 * Open Service Mesh use): each match's list of header filters folded into one map, all of which
 * must hold. Like that type, it refuses a filter naming more than one header, and then the whole
 * group: undefined, as for any group that is not in the wire shape.
 */
export function readMatches(raw: unknown): HttpMatch[] | undefined {
  const parsed = z.array(WireMatch).safeParse(raw);
  if (!parsed.success) return undefined;
  const read: HttpMatch[] = [];
  for (const { headers, ...rest } of parsed.data) {
    if (headers === undefined) {
      read.push(rest);
      continue;
    }
    if (headers.some((filter) => Object.keys(filter).length > 1)) return undefined;
    read.push({ ...rest, headers: Object.assign({}, ...headers) });
  }
  return read;
}

const fullMatch = (pattern: string, value: string): boolean => {
  try {
    return new RegExp(`^(?:${pattern})$`).test(value);
  } catch {
    return false;
  }
};

/**
 * Whether a request matches one HTTPRouteGroup match: every condition given must hold (methods,
 * "*" for any; pathRegex against the whole path; each header present and matching its regex).
 */
export function matchesRequest(match: HttpMatch, request: RequestAttributes): boolean {
  if (match.methods?.length) {
    const method = request.method.toUpperCase();
    if (!match.methods.some((m) => m === "*" || m.toUpperCase() === method)) return false;
  }
  if (match.pathRegex !== undefined && !fullMatch(match.pathRegex, request.path)) return false;
  for (const [name, pattern] of Object.entries(match.headers ?? {})) {
    const value = request.headers[name.toLowerCase()];
    if (value === undefined || !fullMatch(pattern, value)) return false;
  }
  return true;
}

/** What the simulator's plain requests look like: they carry no header a segment is keyed on. */
export const PLAIN_REQUEST: RequestAttributes = { method: "GET", path: "/", headers: {} };

/**
 * A string the regex probably matches, for the patterns HTTPRouteGroups use in practice
 * ("insider", ".*Firefox.*", Flagger's cookie "^(.*?;)?(canary=always)(;.*)?$"): optional groups
 * and wildcards dropped, the first branch of each alternation kept. Callers check the result.
 */
export function exampleFor(pattern: string): string {
  let text = pattern.replace(/^\^/, "").replace(/\$$/, "");
  const untilStable = (step: (s: string) => string) => {
    for (let next = step(text); next !== text; next = step(text)) text = next;
  };
  untilStable((s) => s.replace(/\([^()]*\)(?:\?|\*\??)/g, ""));
  untilStable((s) => s.replace(/\((?:\?:)?([^()|]*)(?:\|[^()]*)?\)/g, "$1"));
  text = text.split("|")[0] ?? "";
  text = text.replace(/\.\*\??/g, "").replace(/\.\+\??/g, "x");
  text = text.replace(/\[([^\]^])[^\]]*\][*+?]?/g, "$1");
  return text.replace(/\\(.)/g, "$1");
}

/** A request that satisfies the match, or undefined when none could be made up for it. */
export function requestFor(match: HttpMatch): RequestAttributes | undefined {
  const request: RequestAttributes = {
    method: match.methods?.find((m) => m !== "*")?.toUpperCase() ?? "GET",
    path: match.pathRegex === undefined ? "/" : exampleFor(match.pathRegex),
    headers: Object.fromEntries(
      Object.entries(match.headers ?? {}).map(([name, pattern]) => [
        name.toLowerCase(),
        exampleFor(pattern),
      ]),
    ),
  };
  return matchesRequest(match, request) ? request : undefined;
}

/** One of an HTTPRoute rule's matches, with the CRD's defaults applied (see routeMatch). */
export interface RouteMatch {
  path: { type: "Exact" | "PathPrefix" | "RegularExpression"; value: string };
  headers: { type: "Exact" | "RegularExpression"; name: string; value: string }[];
  method?: string;
}

/** What the CRD defaults a match to, and a rule without matches to: every request. */
export const MATCH_ALL: RouteMatch = { path: { type: "PathPrefix", value: "/" }, headers: [] };

type WireRouteMatch = {
  path?: { type?: string; value?: string };
  headers?: { type?: string; name: string; value: string }[];
  method?: string;
};

/**
 * An HTTPRoute match as the apiserver stores it, read with the CRD's defaults (path PathPrefix
 * "/", header type Exact) for objects that did not pass through it; undefined for a type this
 * mesh does not know (the CRD admits no other, so only a hand-made object has one).
 */
export function routeMatch(wire: WireRouteMatch): RouteMatch | undefined {
  const pathType = wire.path?.type ?? "PathPrefix";
  if (pathType !== "Exact" && pathType !== "PathPrefix" && pathType !== "RegularExpression")
    return undefined;
  const headers: RouteMatch["headers"] = [];
  for (const h of wire.headers ?? []) {
    const type = h.type ?? "Exact";
    if (type !== "Exact" && type !== "RegularExpression") return undefined;
    headers.push({ type, name: h.name, value: h.value });
  }
  const match: RouteMatch = { path: { type: pathType, value: wire.path?.value ?? "/" }, headers };
  if (wire.method !== undefined) match.method = wire.method;
  return match;
}

/** PathPrefix matches whole path elements: "/api" takes "/api" and "/api/v1", not "/apis". */
function prefixMatches(prefix: string, path: string): boolean {
  const trimmed = prefix.replace(/\/+$/, "");
  return trimmed === "" || path === trimmed || path.startsWith(`${trimmed}/`);
}

/**
 * Whether a request satisfies one HTTPRoute match: its path, its method when given and every
 * header (names without regard to case; regular expressions against the whole value, as Envoy
 * matches them).
 */
export function routeMatchHolds(match: RouteMatch, request: RequestAttributes): boolean {
  const { type, value } = match.path;
  if (type === "Exact" && request.path !== value) return false;
  if (type === "PathPrefix" && !prefixMatches(value, request.path)) return false;
  if (type === "RegularExpression" && !fullMatch(value, request.path)) return false;
  if (match.method !== undefined && match.method !== request.method.toUpperCase()) return false;
  return match.headers.every((h) => {
    const actual = request.headers[h.name.toLowerCase()];
    if (actual === undefined) return false;
    return h.type === "Exact" ? actual === h.value : fullMatch(h.value, actual);
  });
}

/**
 * The Gateway API's precedence among matches that hold, as a sort key (smaller first): an Exact
 * path, then a RegularExpression one (the spec leaves its place to implementations; Envoy
 * Gateway puts it here), then the longest PathPrefix; then a method match; then more headers.
 * Routes' ages, their names and the order of rules and matches break what ties remain.
 */
export function matchPrecedence(match: RouteMatch): number[] {
  const rank = { Exact: 0, RegularExpression: 1, PathPrefix: 2 }[match.path.type];
  return [
    rank,
    -match.path.value.length,
    match.method === undefined ? 1 : 0,
    -match.headers.length,
  ];
}

/** Whether the match is the catch-all a plain request already satisfies. */
export const matchesAll = (match: RouteMatch): boolean =>
  match.path.type === "PathPrefix" &&
  prefixMatches(match.path.value, "/") &&
  match.method === undefined &&
  match.headers.length === 0;

/** A request that satisfies the HTTPRoute match, or undefined when none could be made up for it. */
export function requestForRoute(match: RouteMatch): RequestAttributes | undefined {
  const example = (type: string, value: string) =>
    type === "RegularExpression" ? exampleFor(value) : value;
  const request: RequestAttributes = {
    method: match.method ?? "GET",
    path: example(match.path.type, match.path.value),
    headers: Object.fromEntries(
      match.headers.map((h) => [h.name.toLowerCase(), example(h.type, h.value)]),
    ),
  };
  return routeMatchHolds(match, request) ? request : undefined;
}

/**
 * The share (0..1) of a rule's requests a RequestMirror filter copies: `percent` (0..100) or
 * `fraction` (numerator over denominator, 100 by default); all of them when neither is given.
 */
export function mirrorShare(mirror: {
  percent?: number;
  fraction?: { numerator: number; denominator?: number };
}): number {
  if (mirror.percent !== undefined) return Math.min(1, Math.max(0, mirror.percent / 100));
  if (mirror.fraction !== undefined) {
    const { numerator, denominator = 100 } = mirror.fraction;
    return denominator > 0 ? Math.min(1, Math.max(0, numerator / denominator)) : 0;
  }
  return 1;
}

export interface SplitBackend {
  service: string;
  weight: number;
}

/** A backend drawn in proportion to the weights; undefined when every weight is 0. */
export function pickWeighted<T extends { weight: number }>(
  items: readonly T[],
  random: Random,
): T | undefined {
  let total = 0;
  for (const item of items) total += item.weight;
  if (total <= 0) return undefined;
  let x = random() * total;
  for (const item of items) {
    if (item.weight <= 0) continue;
    x -= item.weight;
    if (x < 0) return item;
  }
  // Rounding: the last item with weight.
  for (let i = items.length - 1; i >= 0; i--) if ((items[i]?.weight ?? 0) > 0) return items[i];
  return undefined;
}

/** Whether a Service's selector picks pods with these labels; a Service without one picks none. */
export function selects(
  selector: Record<string, string>,
  podLabels: Record<string, string>,
): boolean {
  const entries = Object.entries(selector);
  return entries.length > 0 && entries.every(([k, v]) => podLabels[k] === v);
}

/** Nearest-rank quantile of ascending-sorted values; undefined when there are none. */
export function quantile(sorted: ArrayLike<number>, q: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil(q * sorted.length)));
  return sorted[rank - 1];
}

/**
 * A value as a Kubernetes quantity the way smi-metrics writes it (a milli-quantity, canonical):
 * 12 -> "12", 12.5 -> "12500m".
 */
export function milliQuantity(value: number): string {
  const milli = Math.round(value * 1000);
  return milli % 1000 === 0 ? String(milli / 1000) : `${milli}m`;
}

const GO_UNITS: [string, number][] = [
  ["h", 3_600_000],
  ["m", 60_000],
  ["s", 1_000],
  ["ms", 1],
];

/** Parses a Go duration ("30s", "1m30s", "500ms"); undefined when malformed or not positive. */
export function parseGoDuration(text: string | null | undefined): number | undefined {
  if (!text || !/^(\d+(\.\d+)?(h|ms|m|s))+$/.test(text)) return undefined;
  let total = 0;
  for (const [, amount, , unit] of text.matchAll(/(\d+(?:\.\d+)?)()(h|ms|m|s)/g)) {
    total += Number(amount) * (GO_UNITS.find(([u]) => u === unit)?.[1] ?? 0);
  }
  return total > 0 ? total : undefined;
}

/** Formats milliseconds as Go's time.Duration.String() does: "30s", "1m0s", "1h2m3s", "500ms". */
export function formatGoDuration(ms: number): string {
  if (ms < 1000) return `${ms}ms`;
  const h = Math.floor(ms / 3_600_000);
  const m = Math.floor((ms % 3_600_000) / 60_000);
  const s = (ms % 60_000) / 1000;
  if (h > 0) return `${h}h${m}m${s}s`;
  if (m > 0) return `${m}m${s}s`;
  return `${s}s`;
}
