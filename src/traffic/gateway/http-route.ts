import { isDeepStrictEqual } from "node:util";
import { z } from "zod";
import { ObjectMeta } from "../../api/common.ts";
import { GATEWAY_GROUP, type HeaderMatch, type ParentRef } from "../../api/rollout.ts";
import type { Route, RouteVerdict, Traffic } from "../router.ts";

// The HTTPRoute as Fledge reads and writes it. Everything Fledge writes is spelled out with the
// values the CRD would default (group, kind, weight, match types), so that what the apiserver
// stores reads back as what was written and an unchanged route is never written again.

const Json = z.record(z.string(), z.unknown());
type Json = z.infer<typeof Json>;

const RawParentRef = z.looseObject({
  group: z.string().optional(),
  kind: z.string().optional(),
  namespace: z.string().optional(),
  name: z.string(),
  sectionName: z.string().optional(),
  port: z.number().optional(),
});
type RawParentRef = z.infer<typeof RawParentRef>;

const RawRoute = z.looseObject({
  metadata: ObjectMeta,
  spec: z.looseObject({
    parentRefs: z.array(RawParentRef).default([]),
    rules: z.array(Json).default([]),
  }),
  status: z
    .looseObject({
      parents: z
        .array(
          z.looseObject({
            parentRef: RawParentRef,
            controllerName: z.string().optional(),
            conditions: z
              .array(
                z.looseObject({
                  type: z.string(),
                  status: z.string(),
                  reason: z.string().optional(),
                  message: z.string().optional(),
                  observedGeneration: z.number().optional(),
                }),
              )
              .default([]),
          }),
        )
        .default([]),
    })
    .optional(),
});

/** What the cache keeps of an HTTPRoute: the rules whole, as Fledge edits only its own. */
export type RouteView = {
  metadata: {
    name: string;
    namespace: string;
    resourceVersion: string;
    generation: number;
    labels: Record<string, string>;
    ownerReferences: Json[];
  };
  parentRefs: RawParentRef[];
  rules: Json[];
  parents: NonNullable<z.infer<typeof RawRoute>["status"]>["parents"];
};

export function routeView(raw: unknown): RouteView | undefined {
  const parsed = RawRoute.safeParse(raw);
  if (!parsed.success) return undefined;
  const { metadata, spec, status } = parsed.data;
  return {
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace ?? "",
      resourceVersion: metadata.resourceVersion ?? "",
      generation: metadata.generation ?? 0,
      labels: metadata.labels ?? {},
      ownerReferences: (metadata.ownerReferences ?? []) as Json[],
    },
    parentRefs: spec.parentRefs,
    rules: spec.rules,
    parents: status?.parents ?? [],
  };
}

/** The rule Fledge adds for A/B routing, found again by its name. */
export const AB_RULE = "fledge-ab";

/** A parentRef with the Gateway API's defaults filled in, as its status repeats it. */
export function parentRefOf(ref: ParentRef | RawParentRef, namespace: string) {
  const kind = ref.kind ?? "Gateway";
  return {
    group: ref.group ?? (kind === "Service" ? "" : GATEWAY_GROUP),
    kind,
    namespace: ref.namespace ?? namespace,
    name: ref.name,
    ...(ref.sectionName === undefined ? {} : { sectionName: ref.sectionName }),
    ...(ref.port === undefined ? {} : { port: ref.port }),
  };
}

const serviceRef = (name: string, port: number) => ({ group: "", kind: "Service", name, port });

const isServiceRef = (ref: unknown, names: string[]): boolean => {
  const r = ref as { group?: string; kind?: string; name?: string } | undefined;
  return (
    (r?.group ?? "") === "" && (r?.kind ?? "Service") === "Service" && names.includes(r?.name ?? "")
  );
};

const backendRefsOf = (rule: Json) => (rule.backendRefs ?? []) as Json[];
const filtersOf = (rule: Json) => (rule.filters ?? []) as Json[];

/** Fledge's mirror: a RequestMirror filter whose backend is the canary Service. */
const isMirror = (filter: Json, route: Route) =>
  filter.type === "RequestMirror" &&
  isServiceRef((filter.requestMirror as Json | undefined)?.backendRef, [route.canaryService]);

/**
 * The rule that carries the rollout's weights: the first (other than the A/B rule) that sends to
 * the apex Service or to the primary and canary Services Fledge put there.
 */
export function mainRuleIndex(rules: Json[], route: Route): number {
  const ours = [route.apex, route.primaryService, route.canaryService];
  return rules.findIndex(
    (r) => r.name !== AB_RULE && backendRefsOf(r).some((b) => isServiceRef(b, ours)),
  );
}

/** Every request, as the CRD defaults a rule without matches. */
const ALL_REQUESTS = [{ path: { type: "PathPrefix", value: "/" } }];

/** A regex with no special characters says one value: Exact, which every implementation has. */
const plain = (value: string) => !/[\\^$.|?*+()[\]{}]/.test(value);

/** The spec's A/B matches as HTTPRouteMatches: one per method, each with all its headers. */
export function httpMatches(matches: readonly HeaderMatch[]): Json[] {
  return matches.flatMap((m) => {
    const headers = Object.entries(m.headers ?? {}).map(([name, value]) => ({
      type: plain(value) ? "Exact" : "RegularExpression",
      name,
      value,
    }));
    const path = m.pathRegex
      ? { type: plain(m.pathRegex) ? "Exact" : "RegularExpression", value: m.pathRegex }
      : { type: "PathPrefix", value: "/" };
    const base = { path, ...(headers.length ? { headers } : {}) };
    const methods = (m.methods ?? []).filter((method) => method !== "*");
    return methods.length ? methods.map((method) => ({ ...base, method })) : [base];
  });
}

const isAll = (path: unknown) =>
  isDeepStrictEqual(path, { type: "PathPrefix", value: "/" }) || path === undefined;

/**
 * The A/B matches narrowed to the requests the steered rule takes: a rule of the user's for
 * /api must not let the A/B rule take a matching request for another path. Each of the rule's
 * matches is combined with each A/B match: headers add up, a path or method on one side only
 * is kept, and where both name a path the Rollout's, asked for by name, wins.
 */
export function within(ruleMatches: Json[], abMatches: Json[]): Json[] {
  return ruleMatches.flatMap((r) =>
    abMatches.flatMap((m) => {
      if (r.method && m.method && r.method !== m.method) return [];
      const path = isAll(m.path) ? (r.path ?? m.path) : m.path;
      const headers = [...((r.headers as Json[]) ?? []), ...((m.headers as Json[]) ?? [])];
      return [
        {
          ...r,
          path,
          ...(headers.length ? { headers } : {}),
          ...((m.method ?? r.method) ? { method: m.method ?? r.method } : {}),
        },
      ];
    }),
  );
}

function weighted(rule: Json, route: Route, traffic: Traffic | undefined): Json {
  const filters = filtersOf(rule).filter((f) => !isMirror(f, route));
  if (traffic && traffic.mirrorPercent > 0)
    filters.push({
      type: "RequestMirror",
      requestMirror: {
        backendRef: serviceRef(route.canaryService, route.port),
        percent: traffic.mirrorPercent,
      },
    });
  const backendRefs = traffic
    ? [
        { ...serviceRef(route.primaryService, route.port), weight: 100 - traffic.canaryWeight },
        { ...serviceRef(route.canaryService, route.port), weight: traffic.canaryWeight },
      ]
    : [{ ...serviceRef(route.apex, route.port), weight: 1 }];
  return { ...rule, filters, backendRefs };
}

/**
 * The rules of a route once it says `traffic` (or, without it, sends everything to the apex
 * Service again): the rule that sends to the apex carries the weights, or with matches an A/B
 * rule before it does while it keeps all other requests on the primary. Rules that are not
 * Fledge's stay as they are, where they are.
 */
export function rulesFor(rules: Json[], route: Route, traffic: Traffic | undefined): Json[] {
  const rest = rules.filter((r) => r.name !== AB_RULE);
  const at = mainRuleIndex(rest, route);
  const main = at >= 0 ? (rest[at] as Json) : { matches: ALL_REQUESTS };
  const matched =
    traffic && route.matches?.length
      ? within((main.matches ?? ALL_REQUESTS) as Json[], httpMatches(route.matches))
      : undefined;
  // A/B matches the rule can never take (another method) leave the canary no request.
  const none = { canaryWeight: 0, mirrorPercent: 0 };
  const ours = matched?.length
    ? [
        weighted({ ...main, name: AB_RULE, matches: matched }, route, traffic),
        weighted(main, route, none),
      ]
    : [weighted(main, route, matched ? none : traffic)];
  return at >= 0 ? [...rest.slice(0, at), ...ours, ...rest.slice(at + 1)] : [...rest, ...ours];
}

/** Whether `current` holds everything in `wanted`: arrays alike in length, objects may hold more (defaults). */
export function covers(current: unknown, wanted: unknown): boolean {
  if (Array.isArray(wanted))
    return (
      Array.isArray(current) &&
      current.length === wanted.length &&
      wanted.every((w, i) => covers(current[i], w))
    );
  if (wanted && typeof wanted === "object")
    return (
      !!current &&
      typeof current === "object" &&
      Object.entries(wanted).every(([k, w]) => covers((current as Json)[k], w))
    );
  return isDeepStrictEqual(current, wanted);
}

/** The traffic a route's rules say: the weighted rule's share for the canary, and its mirror. */
export function trafficOf(view: RouteView, route: Route): Traffic | undefined {
  const rule =
    view.rules.find((r) => r.name === AB_RULE) ?? view.rules[mainRuleIndex(view.rules, route)];
  if (!rule) return undefined;
  const weight = (name: string) =>
    backendRefsOf(rule)
      .filter((b) => isServiceRef(b, [name]))
      .reduce((sum, b) => sum + ((b.weight as number | undefined) ?? 1), 0);
  const total = backendRefsOf(rule).reduce(
    (sum, b) => sum + ((b.weight as number | undefined) ?? 1),
    0,
  );
  const mirror = filtersOf(rule).find((f) => isMirror(f, route))?.requestMirror as
    | { percent?: number; fraction?: { numerator: number; denominator?: number } }
    | undefined;
  const mirrorPercent = !mirror
    ? 0
    : mirror.percent !== undefined
      ? mirror.percent
      : mirror.fraction
        ? Math.round((mirror.fraction.numerator / (mirror.fraction.denominator ?? 100)) * 100)
        : 100;
  return {
    canaryWeight: total > 0 ? Math.round((weight(route.canaryService) / total) * 100) : 0,
    mirrorPercent,
  };
}

const describeParent = (p: ReturnType<typeof parentRefOf>) =>
  `${p.kind} ${p.namespace}/${p.name}${p.sectionName ? `#${p.sectionName}` : ""}`;

/**
 * What the route's parents say of the generation now written: a route counts as in effect only
 * once every parent has accepted that generation and resolved its backends.
 */
export function verdictOf(view: RouteView): RouteVerdict {
  const { namespace, generation } = view.metadata;
  if (view.parentRefs.length === 0)
    return {
      status: "False",
      reason: "RouteNotAccepted",
      message: `HTTPRoute ${view.metadata.name} has no parentRefs: no mesh or Gateway takes it up`,
    };
  const waiting: string[] = [];
  for (const ref of view.parentRefs) {
    const parent = parentRefOf(ref, namespace);
    const said = view.parents
      .filter((p) => isDeepStrictEqual(parentRefOf(p.parentRef, namespace), parent))
      .flatMap((p) => p.conditions.map((c) => ({ ...c, controller: p.controllerName })));
    const current = (type: string) =>
      said.find((c) => c.type === type && (c.observedGeneration ?? 0) >= generation);
    const accepted = current("Accepted");
    const resolved = current("ResolvedRefs");
    const by = `${describeParent(parent)}${accepted?.controller ? ` (${accepted.controller})` : ""}`;
    if (accepted?.status === "False")
      return {
        status: "False",
        reason: "RouteNotAccepted",
        message: `${by} did not accept generation ${generation} of HTTPRoute ${view.metadata.name}: ${accepted.reason ?? "no reason"}${accepted.message ? `: ${accepted.message}` : ""}`,
      };
    if (resolved?.status === "False")
      return {
        status: "False",
        reason: "RouteRefsUnresolved",
        message: `${by} could not resolve the backends of HTTPRoute ${view.metadata.name}: ${resolved.reason ?? "no reason"}${resolved.message ? `: ${resolved.message}` : ""}`,
      };
    if (accepted?.status !== "True") waiting.push(describeParent(parent));
  }
  return waiting.length
    ? {
        status: "Unknown",
        reason: "RoutePending",
        message: `waiting for ${waiting.join(", ")} to accept generation ${generation} of HTTPRoute ${view.metadata.name}`,
      }
    : {
        status: "True",
        reason: "RouteAccepted",
        message: `every parent accepted generation ${generation} of HTTPRoute ${view.metadata.name}`,
      };
}
