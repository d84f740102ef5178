import { describe, expect, test } from "vitest";
import { parseQuantity } from "../../src/api/quantity.ts";
import {
  behaviourOf,
  exampleFor,
  formatGoDuration,
  type HttpMatch,
  MATCH_ALL,
  matchesRequest,
  milliQuantity,
  mirrorShare,
  PLAIN_REQUEST,
  parseGoDuration,
  quantile,
  type RequestAttributes,
  type RouteMatch,
  readMatches,
  requestFor,
  requestForRoute,
  routeMatch,
  routeMatchHolds,
  SIMULATED_MESH_CONTROLLER,
  sampleLatencyMs,
  seededRandom,
} from "../harness/simulator/model.ts";
import { RequestLog } from "../harness/simulator/request-log.ts";
import { parentsStatus, type StatusParent } from "../harness/simulator/route-status.ts";
import {
  type BackendRef,
  type ClusterSnapshot,
  type DeploymentInfo,
  type Destination,
  type HttpRouteInfo,
  type ParentRef,
  type RouteGroupInfo,
  type RouteRule,
  requestKinds,
  route,
  type ServiceInfo,
  type SplitInfo,
} from "../harness/simulator/routing.ts";
import { trafficMetrics, windowOf } from "../harness/simulator/traffic-metrics.ts";

const NS = "shop";

function deployment(name: string, annotations: Record<string, string> = {}, ready = 2) {
  return {
    namespace: NS,
    name,
    templateLabels: { app: name },
    templateAnnotations: annotations,
    readyReplicas: ready,
  };
}

const service = (name: string, app: string, annotations?: Record<string, string>): ServiceInfo => ({
  namespace: NS,
  name,
  selector: { app },
  port: 9898,
  annotations,
});

function cluster(parts: {
  services: ServiceInfo[];
  deployments: DeploymentInfo[];
  splits: SplitInfo[];
  routeGroups?: RouteGroupInfo[];
  httpRoutes?: HttpRouteInfo[];
}): ClusterSnapshot {
  return {
    service: (ns, name) => parts.services.find((s) => s.namespace === ns && s.name === name),
    deployments: (ns) => parts.deployments.filter((d) => d.namespace === ns),
    splits: (ns, apex) => parts.splits.filter((s) => s.namespace === ns && s.apex === apex),
    routeGroup: (ns, name) => parts.routeGroups?.find((g) => g.namespace === ns && g.name === name),
    httpRoutes: (ns) => (parts.httpRoutes ?? []).filter((r) => r.namespace === ns),
  };
}

// Flagger's naming: the apex selects the canary's pods, primary and canary Services split it.
const podinfo = (splits: SplitInfo[], routeGroups: RouteGroupInfo[] = []) =>
  cluster({
    services: [
      service("podinfo", "podinfo"),
      service("podinfo-primary", "podinfo-primary"),
      service("podinfo-canary", "podinfo"),
    ],
    deployments: [
      deployment("podinfo-primary"),
      deployment("podinfo", { "fledge.dev/sim-success-rate": "0.9" }),
    ],
    splits,
    routeGroups,
  });

const split = (weights: [number, number], routeGroups: string[] = [], name = "podinfo") => ({
  namespace: NS,
  name,
  apex: "podinfo",
  backends: [
    { service: "podinfo-primary", weight: weights[0] },
    { service: "podinfo-canary", weight: weights[1] },
  ],
  routeGroups,
});

/** Where n requests went: the serving Deployment (or "unroutable:SERVICE"), "mirror:" for copies. */
function tally(snapshot: ClusterSnapshot, request: RequestAttributes = PLAIN_REQUEST, n = 10_000) {
  const random = seededRandom(7);
  const counts = new Map<string, number>();
  const add = (to: Destination, prefix = "") => {
    const key = `${prefix}${to.kind === "served" ? to.deployment : `unroutable:${to.service}`}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  };
  for (let i = 0; i < n; i++) {
    const routed = route(snapshot, NS, "podinfo", request, random);
    add(routed);
    for (const mirror of routed.mirrors) add(mirror, "mirror:");
  }
  return counts;
}

describe("routing through a TrafficSplit", () => {
  test("sends requests to backends in proportion to the weights", () => {
    const counts = tally(podinfo([split([80, 20])]));
    expect((counts.get("podinfo") ?? 0) / 10_000).toBeCloseTo(0.2, 1);
    expect((counts.get("podinfo-primary") ?? 0) / 10_000).toBeCloseTo(0.8, 1);
  });

  test("reads the serving Deployment's behaviour from its pod template", () => {
    const routed = route(podinfo([split([0, 100])]), NS, "podinfo", PLAIN_REQUEST, Math.random);
    expect(routed).toMatchObject({
      kind: "served",
      split: "podinfo",
      service: "podinfo-canary",
      deployment: "podinfo",
      app: "podinfo",
      port: 9898,
      behaviour: { successRate: 0.9 },
    });
  });

  test("all weights 0, or a backend that selects no ready Deployment, is unroutable", () => {
    expect([...tally(podinfo([split([0, 0])]), PLAIN_REQUEST, 10)]).toEqual([
      ["unroutable:podinfo", 10],
    ]);
    const noPods = cluster({
      services: [service("podinfo-primary", "podinfo-primary")],
      deployments: [deployment("podinfo-primary", {}, 0)],
      splits: [split([100, 0])],
    });
    expect([...tally(noPods, PLAIN_REQUEST, 10)]).toEqual([["unroutable:podinfo-primary", 10]]);
  });

  test("spreads a Service's requests over the Deployments it selects by ready pods", () => {
    const shared = cluster({
      services: [{ ...service("podinfo", "x"), selector: { tier: "web" } }],
      deployments: [
        { ...deployment("a", {}, 1), templateLabels: { tier: "web" } },
        { ...deployment("b", {}, 3), templateLabels: { tier: "web" } },
      ],
      splits: [],
    });
    const counts = tally(shared);
    expect((counts.get("b") ?? 0) / 10_000).toBeCloseTo(0.75, 1);
  });

  describe("with HTTPRouteGroup matches (v1alpha3/v1alpha4)", () => {
    const insiders: RouteGroupInfo = {
      namespace: NS,
      name: "podinfo-ab",
      matches: [{ name: "insiders", headers: { "x-canary": "insider" } }],
    };
    const ab = podinfo([split([0, 100], ["podinfo-ab"], "podinfo-ab")], [insiders]);

    test("a matching request takes the split with the match", () => {
      const { kinds } = requestKinds(ab, NS, "podinfo");
      expect(kinds).toEqual([
        {
          label: "podinfo-ab/insiders",
          request: { method: "GET", path: "/", headers: { "x-canary": "insider" } },
        },
      ]);
      expect([...tally(ab, kinds[0]?.request, 100)]).toEqual([["podinfo", 100]]);
    });

    test("a request without the header goes to the apex Service when no split takes it", () => {
      // The apex selects app=podinfo, here the canary Deployment, as Flagger leaves it.
      const withPrimaryApex = cluster({
        services: [
          service("podinfo", "podinfo-primary"),
          service("podinfo-primary", "podinfo-primary"),
          service("podinfo-canary", "podinfo"),
        ],
        deployments: [deployment("podinfo-primary"), deployment("podinfo")],
        splits: [split([0, 100], ["podinfo-ab"], "podinfo-ab")],
        routeGroups: [insiders],
      });
      expect([...tally(withPrimaryApex, PLAIN_REQUEST, 100)]).toEqual([["podinfo-primary", 100]]);
    });

    test("a request without the header takes the split without matches when there is one", () => {
      const both = podinfo(
        [split([0, 100], ["podinfo-ab"], "podinfo-ab"), split([100, 0])],
        [insiders],
      );
      expect([...tally(both, PLAIN_REQUEST, 100)]).toEqual([["podinfo-primary", 100]]);
    });

    test("a match no request can be made up for is reported, not sent", () => {
      const odd = podinfo(
        [split([0, 100], ["odd"], "podinfo-ab")],
        [{ namespace: NS, name: "odd", matches: [{ name: "n", headers: { x: "[^a-z]{3}" } }] }],
      );
      expect(requestKinds(odd, NS, "podinfo")).toEqual({
        kinds: [],
        problems: [`cannot make up a request for ${NS}/odd match n`],
      });
    });
  });
});

describe("HTTPRouteGroup matches read as a mesh reads them", () => {
  test("each match's header filters fold into one map, all of which a request must satisfy", () => {
    const [match] =
      readMatches([
        {
          name: "android-insiders",
          headers: [{ "user-agent": ".*Android.*" }, { cookie: "insider" }],
        },
      ]) ?? [];
    expect(match).toEqual({
      name: "android-insiders",
      headers: { "user-agent": ".*Android.*", cookie: "insider" },
    });
    if (!match) return;
    const both = {
      method: "GET",
      path: "/",
      headers: { "user-agent": "x Android", cookie: "insider" },
    };
    expect(matchesRequest(match, both)).toBe(true);
    expect(matchesRequest(match, { ...both, headers: { cookie: "insider" } })).toBe(false);
  });

  test("a group smi-sdk-go could not decode routes nothing: one map, or a filter of two headers", () => {
    expect(readMatches([{ name: "beta", headers: { "x-canary": "true" } }])).toBeUndefined();
    expect(readMatches([{ name: "beta", headers: [{ a: "1", b: "2" }] }])).toBeUndefined();
    expect(readMatches([{ name: "api", pathRegex: "/api/.*" }])).toEqual([
      { name: "api", pathRegex: "/api/.*" },
    ]);
  });
});

describe("requests made up for HTTPRouteGroup matches", () => {
  test.each([
    ["insider", "insider"],
    [".*Firefox.*", "Firefox"],
    ["^(.*?;)?(canary=always)(;.*)?$", "canary=always"],
    ["(beta|gamma)-users", "beta-users"],
    ["^/api/v1$", "/api/v1"],
  ])("%s -> %s", (pattern, example) => {
    expect(exampleFor(pattern)).toBe(example);
  });

  test("every request made up satisfies its match, methods and path included", () => {
    const matches: HttpMatch[] = [
      { name: "a", headers: { cookie: "^(.*?;)?(canary=always)(;.*)?$" } },
      { name: "b", methods: ["*", "post"], pathRegex: "/api/.*" },
      { name: "c", headers: { "User-Agent": ".*Firefox.*" } },
    ];
    for (const match of matches) {
      const request = requestFor(match);
      expect(request).toBeDefined();
      if (request) expect(matchesRequest(match, request)).toBe(true);
    }
    expect(requestFor({ name: "b", methods: ["POST"] })?.method).toBe("POST");
    // "\d" is not made up, so this pattern gets no request rather than a wrong one.
    expect(requestFor({ name: "d", headers: { x: "v\\d+" } })).toBeUndefined();
  });
});

const serviceParent = (name = "podinfo"): ParentRef => ({
  group: "",
  kind: "Service",
  namespace: NS,
  name,
  spec: { group: "", kind: "Service", name },
});

const ref = (name: string, weight = 1): BackendRef => ({
  group: "",
  kind: "Service",
  namespace: NS,
  name,
  weight,
});

const rule = (parts: Partial<RouteRule> = {}): RouteRule => ({
  matches: [],
  backends: [ref("podinfo-primary")],
  mirrors: [],
  ...parts,
});

function httpRoute(name: string, rules: RouteRule[], extra: Partial<HttpRouteInfo> = {}) {
  return {
    namespace: NS,
    name,
    generation: 1,
    created: "2026-01-01T00:00:00Z",
    parents: [serviceParent()],
    rules,
    ...extra,
  } satisfies HttpRouteInfo;
}

/** podinfo (the apex, selecting the canary's pods), podinfo-primary, podinfo-canary, shadow. */
const mesh = (
  httpRoutes: HttpRouteInfo[],
  options: { apex?: ServiceInfo; splits?: SplitInfo[] } = {},
) =>
  cluster({
    services: [
      options.apex ?? service("podinfo", "podinfo"),
      service("podinfo-primary", "podinfo-primary"),
      service("podinfo-canary", "podinfo"),
      service("shadow", "shadow"),
    ],
    deployments: [deployment("podinfo-primary"), deployment("podinfo"), deployment("shadow")],
    splits: options.splits ?? [],
    httpRoutes,
  });

const share = (counts: Map<string, number>, key: string, n = 10_000) => (counts.get(key) ?? 0) / n;

const get = (path: string, headers: Record<string, string> = {}, method = "GET") => ({
  method,
  path,
  headers,
});

const match = (wire: Parameters<typeof routeMatch>[0]): RouteMatch => {
  const read = routeMatch(wire);
  if (!read) throw new Error("unreadable match");
  return read;
};

describe("HTTPRoute backendRefs", () => {
  test("requests go to backends in proportion to the weights; weight 0 gets none", () => {
    const counts = tally(
      mesh([
        httpRoute("podinfo", [
          rule({
            backends: [ref("podinfo-primary", 75), ref("podinfo-canary", 25), ref("shadow", 0)],
          }),
        ]),
      ]),
    );
    expect(share(counts, "podinfo-primary")).toBeCloseTo(0.75, 1);
    expect(share(counts, "podinfo")).toBeCloseTo(0.25, 1);
    expect(counts.has("shadow")).toBe(false);
  });

  test("weight defaults to 1 each; a routed request names its route and no split", () => {
    const cluster = mesh([
      httpRoute("podinfo", [rule({ backends: [ref("podinfo-primary"), ref("podinfo-canary")] })]),
    ]);
    expect(share(tally(cluster), "podinfo")).toBeCloseTo(0.5, 1);
    expect(route(cluster, NS, "podinfo", PLAIN_REQUEST, () => 0.9)).toMatchObject({
      kind: "served",
      route: "podinfo",
      split: "",
      service: "podinfo-canary",
      deployment: "podinfo",
      mirrors: [],
    });
  });

  test("all weights 0, and a backend Service that does not exist, are unroutable", () => {
    const zero = mesh([httpRoute("podinfo", [rule({ backends: [ref("podinfo-primary", 0)] })])]);
    expect([...tally(zero, PLAIN_REQUEST, 10)]).toEqual([["unroutable:podinfo", 10]]);
    const missing = mesh([httpRoute("podinfo", [rule({ backends: [ref("nowhere")] })])]);
    expect([...tally(missing, PLAIN_REQUEST, 10)]).toEqual([["unroutable:nowhere", 10]]);
  });

  test("an accepted route takes the Service's requests from a TrafficSplit", () => {
    const split: SplitInfo = {
      namespace: NS,
      name: "podinfo",
      apex: "podinfo",
      backends: [{ service: "podinfo-canary", weight: 100 }],
      routeGroups: [],
    };
    expect([
      ...tally(mesh([httpRoute("podinfo", [rule()])], { splits: [split] }), PLAIN_REQUEST, 10),
    ]).toEqual([["podinfo-primary", 10]]);
  });
});

describe("HTTPRoute matches and precedence", () => {
  test("path kinds, methods and headers hold as the Gateway API says", () => {
    const prefix = match({ path: { value: "/api" } });
    expect(routeMatchHolds(prefix, get("/api"))).toBe(true);
    expect(routeMatchHolds(prefix, get("/api/v1"))).toBe(true);
    expect(routeMatchHolds(prefix, get("/apis"))).toBe(false);
    expect(routeMatchHolds(match({ path: { value: "/api/" } }), get("/api"))).toBe(true);
    expect(routeMatchHolds(match({ path: { type: "Exact", value: "/api" } }), get("/api/v1"))).toBe(
      false,
    );
    const regex = match({ path: { type: "RegularExpression", value: "/v[0-9]+/.*" } });
    expect(routeMatchHolds(regex, get("/v2/items"))).toBe(true);
    expect(routeMatchHolds(regex, get("/x/v2/items"))).toBe(false);
    const headers = match({
      headers: [
        { name: "X-Canary", value: "insider" },
        { type: "RegularExpression", name: "user-agent", value: ".*Firefox.*" },
      ],
      method: "POST",
    });
    const ok = get("/", { "x-canary": "insider", "user-agent": "Mozilla Firefox/1" }, "post");
    expect(routeMatchHolds(headers, ok)).toBe(true);
    expect(routeMatchHolds(headers, { ...ok, method: "GET" })).toBe(false);
    expect(routeMatchHolds(headers, { ...ok, headers: { "x-canary": "insider" } })).toBe(false);
    expect(routeMatch({ path: { type: "Template", value: "/" } })).toBeUndefined();
  });

  const to = (backend: string, matches: RouteMatch[] = []) =>
    rule({ matches, backends: [ref(backend)] });

  test("a rule whose match holds beats the rule without matches, whatever their order", () => {
    const cluster = mesh([
      httpRoute("podinfo", [
        to("podinfo-primary"),
        to("podinfo-canary", [match({ headers: [{ name: "x-canary", value: "insider" }] })]),
      ]),
    ]);
    expect([...tally(cluster, get("/", { "x-canary": "insider" }), 10)]).toEqual([["podinfo", 10]]);
    expect([...tally(cluster, PLAIN_REQUEST, 10)]).toEqual([["podinfo-primary", 10]]);
  });

  test("exact path > longest prefix > method > more headers, across the Service's routes", () => {
    const request = get("/api/v1", { a: "1", b: "2" }, "POST");
    const rules = {
      exact: to("shadow", [match({ path: { type: "Exact", value: "/api/v1" } })]),
      longer: to("podinfo-canary", [match({ path: { value: "/api/v1" } })]),
      shorter: to("podinfo-primary", [
        match({
          path: { value: "/api" },
          method: "POST",
          headers: [
            { name: "a", value: "1" },
            { name: "b", value: "2" },
          ],
        }),
      ]),
      method: to("shadow", [match({ path: { value: "/api" }, method: "POST" })]),
      headers: to("podinfo-canary", [
        match({ path: { value: "/api" }, headers: [{ name: "a", value: "1" }] }),
      ]),
      twoHeaders: to("podinfo-primary", [
        match({
          path: { value: "/api" },
          headers: [
            { name: "a", value: "1" },
            { name: "b", value: "2" },
          ],
        }),
      ]),
    };
    const winner = (...rs: RouteRule[]) => {
      // The rules spread over two routes, the later-listed one older, to show precedence is
      // over all of the Service's routes.
      const cluster = mesh([
        httpRoute("b", rs.slice(0, 1), { created: "2026-01-02T00:00:00Z" }),
        httpRoute("a", rs.slice(1)),
      ]);
      const routed = route(cluster, NS, "podinfo", request, seededRandom(1));
      return routed.kind === "served" ? routed.deployment : "unroutable";
    };
    expect(winner(rules.longer, rules.exact)).toBe("shadow");
    expect(winner(rules.shorter, rules.longer)).toBe("podinfo");
    expect(winner(rules.headers, rules.method)).toBe("shadow");
    expect(winner(rules.headers, rules.twoHeaders)).toBe("podinfo-primary");
    // A tie goes to the older route, then to the first rule.
    expect(
      winner(
        rules.headers,
        to("podinfo-primary", [
          match({ path: { value: "/api" }, headers: [{ name: "b", value: "2" }] }),
        ]),
      ),
    ).toBe("podinfo-primary");
  });

  test("a request no rule matches is unroutable (GAMMA's 404)", () => {
    const cluster = mesh([
      httpRoute("podinfo", [
        to("podinfo-canary", [match({ path: { type: "Exact", value: "/only" } })]),
      ]),
    ]);
    expect([...tally(cluster, PLAIN_REQUEST, 10)]).toEqual([["unroutable:podinfo", 10]]);
  });

  test("the generator makes one request kind per match but catch-alls, each satisfying it", () => {
    const insiders = match({ headers: [{ name: "X-Canary", value: "insider" }] });
    const api = match({ path: { type: "RegularExpression", value: "/api/v[0-9]" }, method: "PUT" });
    const odd = match({ headers: [{ type: "RegularExpression", name: "x", value: "[^a-z]{3}" }] });
    const cluster = mesh([
      httpRoute("podinfo", [
        rule({ name: "ab", matches: [insiders, MATCH_ALL] }),
        rule({ matches: [api, odd] }),
      ]),
    ]);
    expect(requestKinds(cluster, NS, "podinfo")).toEqual({
      kinds: [
        { label: "podinfo/ab/0", request: get("/", { "x-canary": "insider" }) },
        { label: "podinfo/1/0", request: get("/api/v0", {}, "PUT") },
      ],
      problems: [`cannot make up a request for ${NS}/podinfo/1/1`],
    });
    expect(requestForRoute(odd)).toBeUndefined();
  });
});

describe("RequestMirror", () => {
  test("percent, fraction (denominator 100 by default) and neither (all) give the share copied", () => {
    expect(mirrorShare({ percent: 25 })).toBe(0.25);
    expect(mirrorShare({ fraction: { numerator: 1, denominator: 3 } })).toBeCloseTo(1 / 3);
    expect(mirrorShare({ fraction: { numerator: 5 } })).toBe(0.05);
    expect(mirrorShare({})).toBe(1);
  });

  test("that share of the rule's requests is copied to the mirror; the client's answer is the primary's", () => {
    const cluster = mesh([
      httpRoute("podinfo", [
        rule({
          backends: [ref("podinfo-primary")],
          mirrors: [
            { backend: ref("podinfo-canary"), share: mirrorShare({ percent: 20 }) },
            {
              backend: ref("shadow"),
              share: mirrorShare({ fraction: { numerator: 1, denominator: 2 } }),
            },
          ],
        }),
      ]),
    ]);
    const counts = tally(cluster);
    expect(share(counts, "podinfo-primary")).toBe(1);
    expect(share(counts, "mirror:podinfo")).toBeCloseTo(0.2, 1);
    expect(share(counts, "mirror:shadow")).toBeCloseTo(0.5, 1);
    const routed = route(cluster, NS, "podinfo", PLAIN_REQUEST, () => 0);
    expect(routed).toMatchObject({ kind: "served", deployment: "podinfo-primary" });
    expect(routed.mirrors).toMatchObject([
      { kind: "served", route: "podinfo", service: "podinfo-canary", deployment: "podinfo" },
      { kind: "served", service: "shadow", deployment: "shadow" },
    ]);
  });

  test("a mirror to a Service that does not exist goes nowhere; the request is still served", () => {
    const cluster = mesh([
      httpRoute("podinfo", [rule({ mirrors: [{ backend: ref("nowhere"), share: 1 }] })]),
    ]);
    const routed = route(cluster, NS, "podinfo", PLAIN_REQUEST, seededRandom(3));
    expect(routed).toMatchObject({
      kind: "served",
      deployment: "podinfo-primary",
      mirrors: [{ kind: "unroutable", service: "nowhere" }],
    });
  });
});

describe("which routes the mesh follows", () => {
  const canaryRoute = httpRoute("podinfo", [rule({ backends: [ref("podinfo-canary")] })]);

  test("a route refused by the parent's annotation routes nothing: the Service's selector serves", () => {
    const apex = service("podinfo", "podinfo-primary", {
      "fledge.dev/sim-refuse-routes": "NotAllowedByListeners",
    });
    expect([...tally(mesh([canaryRoute], { apex }), PLAIN_REQUEST, 10)]).toEqual([
      ["podinfo-primary", 10],
    ]);
    expect([...tally(mesh([canaryRoute]), PLAIN_REQUEST, 10)]).toEqual([["podinfo", 10]]);
  });

  test("a Service whose annotation says the mesh ignores splits is served by its selector, whatever its routes say", () => {
    const apex = service("podinfo", "podinfo-primary", { "fledge.dev/sim-ignore-splits": "true" });
    const splits = [split([60, 40])];
    expect([...tally(mesh([canaryRoute], { apex }), PLAIN_REQUEST, 10)]).toEqual([
      ["podinfo-primary", 10],
    ]);
    expect([...tally(mesh([], { apex, splits }), PLAIN_REQUEST, 10)]).toEqual([
      ["podinfo-primary", 10],
    ]);
    const followed = tally(mesh([], { apex: service("podinfo", "podinfo-primary"), splits }));
    expect(share(followed, "podinfo")).toBeCloseTo(0.4, 1);
  });

  test("a route without a Service parent is ignored: a Gateway, a Service elsewhere, a defaulted group", () => {
    const apex = service("podinfo", "podinfo-primary");
    const parents: ParentRef[][] = [
      [{ ...serviceParent(), group: "gateway.networking.k8s.io", kind: "Gateway" }],
      [{ ...serviceParent(), namespace: "elsewhere" }],
      [{ ...serviceParent(), group: "gateway.networking.k8s.io" }],
      [{ ...serviceParent(), port: 8080 }],
      [],
    ];
    for (const p of parents) {
      const cluster = mesh([{ ...canaryRoute, parents: p }], { apex });
      expect([...tally(cluster, PLAIN_REQUEST, 10)]).toEqual([["podinfo-primary", 10]]);
      expect(requestKinds(cluster, NS, "podinfo").kinds).toEqual([]);
    }
  });
});

describe("status.parents as the simulated mesh writes it", () => {
  const NOW = "2026-02-01T00:00:00Z";
  const other: StatusParent = {
    parentRef: { group: "", kind: "Service", name: "podinfo" },
    controllerName: "example.com/other",
    conditions: [],
  };
  const accepted = httpRoute("podinfo", [rule()], { generation: 3 });

  test("Accepted and ResolvedRefs per Service parent, other controllers' entries kept", () => {
    const parents = parentsStatus(mesh([accepted]), accepted, [other], NOW);
    expect(parents).toEqual([
      other,
      {
        parentRef: { group: "", kind: "Service", name: "podinfo" },
        controllerName: SIMULATED_MESH_CONTROLLER,
        conditions: [
          {
            type: "Accepted",
            status: "True",
            reason: "Accepted",
            message: "accepted by the simulated mesh",
            observedGeneration: 3,
            lastTransitionTime: NOW,
          },
          {
            type: "ResolvedRefs",
            status: "True",
            reason: "ResolvedRefs",
            message: "all backend references resolved",
            observedGeneration: 3,
            lastTransitionTime: NOW,
          },
        ],
      },
    ]);
    // Written once: the same again is no change, even later.
    expect(
      parentsStatus(mesh([accepted]), accepted, parents ?? [], "2026-03-01T00:00:00Z"),
    ).toBeUndefined();
  });

  test("BackendNotFound and a refusal; a transition time moves only with its status", () => {
    const before = parentsStatus(mesh([accepted]), accepted, [], NOW) ?? [];
    const broken = { ...accepted, generation: 4, rules: [rule({ backends: [ref("nowhere")] })] };
    const apex = service("podinfo", "podinfo", {
      "fledge.dev/sim-refuse-routes": "NotAllowedByListeners",
    });
    const later = "2026-02-02T00:00:00Z";
    const [entry] = parentsStatus(mesh([broken], { apex }), broken, before, later) ?? [];
    expect(entry?.conditions).toEqual([
      {
        type: "Accepted",
        status: "False",
        reason: "NotAllowedByListeners",
        message: `refused: Service ${NS}/podinfo has fledge.dev/sim-refuse-routes=NotAllowedByListeners`,
        observedGeneration: 4,
        lastTransitionTime: later,
      },
      {
        type: "ResolvedRefs",
        status: "False",
        reason: "BackendNotFound",
        message: `Service ${NS}/nowhere not found`,
        observedGeneration: 4,
        lastTransitionTime: later,
      },
    ]);
    const regenerated = { ...accepted, generation: 5 };
    const [next] = parentsStatus(mesh([regenerated]), regenerated, before, later) ?? [];
    expect(next?.conditions[0]).toMatchObject({ observedGeneration: 5, lastTransitionTime: NOW });
  });

  test("a route without a Service parent gets no entry of ours, and a stale one is removed", () => {
    const gatewayOnly = { ...accepted, parents: [{ ...serviceParent(), kind: "Gateway" }] };
    expect(parentsStatus(mesh([gatewayOnly]), gatewayOnly, [other], NOW)).toBeUndefined();
    const stale = parentsStatus(mesh([accepted]), accepted, [other], NOW) ?? [];
    expect(parentsStatus(mesh([gatewayOnly]), gatewayOnly, stale, NOW)).toEqual([other]);
  });
});

describe("behaviour", () => {
  test("annotations give success rate and latency; bad values fall back and are named", () => {
    expect(
      behaviourOf({
        "fledge.dev/sim-success-rate": "0.8",
        "fledge.dev/sim-latency-ms": "p50=20,p99=400",
      }),
    ).toEqual({ successRate: 0.8, p50Ms: 20, p99Ms: 400, problems: [] });
    const bad = behaviourOf({ "fledge.dev/sim-success-rate": "1.5" });
    expect(bad.successRate).toBe(1);
    expect(bad.problems).toHaveLength(1);
  });

  test("sampled latencies have the annotated median and 0.99 quantile", () => {
    const random = seededRandom("latency");
    const behaviour = behaviourOf({ "fledge.dev/sim-latency-ms": "p50=20,p99=400" });
    const samples = Float64Array.from({ length: 50_000 }, () => sampleLatencyMs(behaviour, random));
    samples.sort();
    expect(quantile(samples, 0.5)).toBeGreaterThan(19);
    expect(quantile(samples, 0.5)).toBeLessThan(21);
    expect(quantile(samples, 0.99)).toBeGreaterThan(370);
    expect(quantile(samples, 0.99)).toBeLessThan(430);
  });
});

describe("TrafficMetrics", () => {
  test("a window's counts and quantiles come from the requests inside it only", () => {
    const log = new RequestLog(60_000);
    for (let i = 0; i < 100; i++) log.add(1000 + i * 100, i + 1, i % 10 !== 0);
    // The last 5 s: requests 50..99.
    const summary = log.summarise(1000 + 99 * 100, 4_950);
    expect(summary).toEqual({
      successCount: 45,
      failureCount: 5,
      p50Ms: 75,
      p90Ms: 95,
      p99Ms: 100,
    });
    expect(log.summarise(1_000_000, 1000)).toMatchObject({ successCount: 0, p99Ms: undefined });
  });

  test("the document has smi-metrics' shape: ms latencies as quantities, counts, window", () => {
    const doc = trafficMetrics(
      NS,
      "podinfo",
      { successCount: 90, failureCount: 10, p50Ms: 12.5, p90Ms: 40, p99Ms: undefined },
      new Date("2026-01-02T03:04:05.678Z"),
      90_000,
    );
    expect(doc).toMatchObject({
      kind: "TrafficMetrics",
      apiVersion: "metrics.smi-spec.io/v1alpha1",
      timestamp: "2026-01-02T03:04:05Z",
      window: "1m30s",
      resource: { kind: "Deployment", namespace: NS, name: "podinfo" },
      metrics: [
        { name: "p99_response_latency", unit: "ms", value: null },
        { name: "p90_response_latency", unit: "ms", value: "40" },
        { name: "p50_response_latency", unit: "ms", value: "12500m" },
        { name: "success_count", value: "90" },
        { name: "failure_count", value: "10" },
      ],
    });
    expect(parseQuantity("12500m")).toBe(12.5);
  });

  test("the window comes from smi-metrics' t parameter, 30s when absent or unreadable", () => {
    expect(windowOf(new URLSearchParams("t=1m"))).toBe(60_000);
    expect(windowOf(new URLSearchParams("window=15s"))).toBe(15_000);
    expect(windowOf(new URLSearchParams("t=soon"))).toBe(30_000);
    expect(windowOf(new URLSearchParams())).toBe(30_000);
  });

  test("quantities and durations are written as Kubernetes and Go write them", () => {
    expect(milliQuantity(12)).toBe("12");
    expect(milliQuantity(0.25)).toBe("250m");
    expect(parseGoDuration("1m30s")).toBe(90_000);
    expect(parseGoDuration("")).toBeUndefined();
    expect(formatGoDuration(30_000)).toBe("30s");
    expect(formatGoDuration(3_723_000)).toBe("1h2m3s");
  });
});
