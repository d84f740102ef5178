import { describe, expect, it } from "vitest";
import { KubeClient, type KubeResult } from "../../src/kube/client.ts";
import {
  AB_RULE,
  covers,
  httpMatches,
  parentRefOf,
  type RouteView,
  routeView,
  rulesFor,
  trafficOf,
  verdictOf,
} from "../../src/traffic/gateway/http-route.ts";
import { routeApi } from "../../src/traffic/gateway/route-api.ts";
import { GatewayRouter } from "../../src/traffic/gateway/router.ts";
import type { Route } from "../../src/traffic/router.ts";

type Json = Record<string, unknown>;

const route: Route = {
  owner: { name: "search", namespace: "shop", uid: "u-1" },
  apex: "search",
  primaryService: "search-primary",
  canaryService: "search-canary",
  port: 80,
};
const svc = (name: string, weight?: number) => ({
  group: "",
  kind: "Service",
  name,
  port: 80,
  ...(weight === undefined ? {} : { weight }),
});

describe("the HTTPRoute rules Fledge writes", () => {
  it("a route of its own: one rule for every request, weighted primary and canary", () => {
    expect(rulesFor([], route, { canaryWeight: 20, mirrorPercent: 0 })).toEqual([
      {
        matches: [{ path: { type: "PathPrefix", value: "/" } }],
        filters: [],
        backendRefs: [svc("search-primary", 80), svc("search-canary", 20)],
      },
    ]);
  });

  it("mirrors a share of requests to the canary with the RequestMirror filter, and stops", () => {
    const mirrored = rulesFor([], route, { canaryWeight: 0, mirrorPercent: 30 });
    expect(mirrored[0]?.filters).toEqual([
      { type: "RequestMirror", requestMirror: { backendRef: svc("search-canary"), percent: 30 } },
    ]);
    expect(rulesFor(mirrored, route, { canaryWeight: 10, mirrorPercent: 0 })[0]?.filters).toEqual(
      [],
    );
  });

  it("a user's route: only the rule that sends to the apex changes; its matches, name and filters stay", () => {
    const theirs = [
      { matches: [{ path: { type: "PathPrefix", value: "/admin" } }], backendRefs: [svc("admin")] },
      {
        name: "main",
        matches: [{ path: { type: "PathPrefix", value: "/" } }],
        filters: [{ type: "RequestHeaderModifier", requestHeaderModifier: { add: [] } }],
        backendRefs: [svc("search")],
      },
    ];
    const ours = rulesFor(theirs, route, { canaryWeight: 40, mirrorPercent: 0 });
    expect(ours[0]).toEqual(theirs[0]);
    expect(ours[1]).toEqual({
      ...theirs[1],
      backendRefs: [svc("search-primary", 60), svc("search-canary", 40)],
    });
    // Written again, the rules are the same: nothing to write.
    expect(rulesFor(ours, route, { canaryWeight: 40, mirrorPercent: 0 })).toEqual(ours);
    // Handed back, the rule sends to the apex Service again.
    expect(rulesFor(ours, route, undefined)[1]?.backendRefs).toEqual([svc("search", 1)]);
  });

  it("A/B: a rule of matches before the main one takes the weights; the rest stay on the primary", () => {
    const ab = { ...route, matches: [{ name: "beta", headers: { "x-beta": "yes" } }] };
    const rules = rulesFor([], ab, { canaryWeight: 50, mirrorPercent: 0 });
    expect(rules.map((r) => r.name)).toEqual([AB_RULE, undefined]);
    expect(rules[0]?.matches).toEqual([
      {
        path: { type: "PathPrefix", value: "/" },
        headers: [{ type: "Exact", name: "x-beta", value: "yes" }],
      },
    ]);
    expect(rules[0]?.backendRefs).toEqual([svc("search-primary", 50), svc("search-canary", 50)]);
    expect(rules[1]?.backendRefs).toEqual([svc("search-primary", 100), svc("search-canary", 0)]);
    // Matches gone from the spec: the A/B rule goes too.
    expect(rulesFor(rules, route, { canaryWeight: 50, mirrorPercent: 0 })).toHaveLength(1);
  });

  it("A/B on a user's rule for /api: the A/B rule takes matching requests for /api only", () => {
    const ab = { ...route, matches: [{ name: "beta", headers: { "x-beta": "yes" } }] };
    const theirs = [
      {
        matches: [{ path: { type: "PathPrefix", value: "/api" }, method: "GET" }],
        backendRefs: [svc("search")],
      },
    ];
    const [abRule] = rulesFor(theirs, ab, { canaryWeight: 50, mirrorPercent: 0 });
    expect(abRule?.matches).toEqual([
      {
        path: { type: "PathPrefix", value: "/api" },
        headers: [{ type: "Exact", name: "x-beta", value: "yes" }],
        method: "GET",
      },
    ]);
    // A/B matches the rule can never take (another method): no A/B rule, the canary gets nothing.
    const post = { ...route, matches: [{ name: "writes", methods: ["POST" as const] }] };
    const rules = rulesFor(theirs, post, { canaryWeight: 50, mirrorPercent: 0 });
    expect(rules).toHaveLength(1);
    expect(rules[0]?.backendRefs).toEqual([svc("search-primary", 100), svc("search-canary", 0)]);
  });

  it("matches: plain values Exact, regexes RegularExpression, one match per method", () => {
    expect(
      httpMatches([
        {
          name: "a",
          headers: { "x-user": "^(alice|bob)$" },
          pathRegex: "/api",
          methods: ["GET", "POST"],
        },
        { name: "b", methods: ["*"], pathRegex: "/v2/.*" },
      ]),
    ).toEqual([
      {
        path: { type: "Exact", value: "/api" },
        headers: [{ type: "RegularExpression", name: "x-user", value: "^(alice|bob)$" }],
        method: "GET",
      },
      {
        path: { type: "Exact", value: "/api" },
        headers: [{ type: "RegularExpression", name: "x-user", value: "^(alice|bob)$" }],
        method: "POST",
      },
      { path: { type: "RegularExpression", value: "/v2/.*" } },
    ]);
  });

  it("what the apiserver adds (defaults) still covers what was written; a missing element does not", () => {
    const written = rulesFor([], route, { canaryWeight: 20, mirrorPercent: 0 });
    const stored = written.map((r) => ({ ...r, timeouts: {}, sessionPersistence: undefined }));
    expect(covers(stored, written)).toBe(true);
    expect(covers(written, rulesFor([], route, { canaryWeight: 30, mirrorPercent: 0 }))).toBe(
      false,
    );
    expect(covers([...stored, {}], written)).toBe(false);
  });
});

function stored(status: unknown, generation = 3): RouteView {
  const view = routeView({
    metadata: { name: "search", namespace: "shop", generation, resourceVersion: "9" },
    spec: {
      parentRefs: [{ group: "", kind: "Service", name: "search" }],
      rules: rulesFor([], route, { canaryWeight: 20, mirrorPercent: 10 }),
    },
    status,
  });
  if (!view) throw new Error("unparsed");
  return view;
}

const parent = (conditions: unknown[]) => ({
  parents: [
    {
      parentRef: { group: "", kind: "Service", name: "search" },
      controllerName: "example.com/mesh",
      conditions,
    },
  ],
});

describe("reading an HTTPRoute back", () => {
  it("reads its weights and mirror", () => {
    expect(trafficOf(stored(undefined), route)).toEqual({ canaryWeight: 20, mirrorPercent: 10 });
  });

  it("is in effect only once every parent accepted the generation written", () => {
    expect(verdictOf(stored(undefined))).toMatchObject({
      status: "Unknown",
      reason: "RoutePending",
    });
    const accepted = (gen: number) =>
      parent([
        { type: "Accepted", status: "True", reason: "Accepted", observedGeneration: gen },
        { type: "ResolvedRefs", status: "True", reason: "ResolvedRefs", observedGeneration: gen },
      ]);
    expect(verdictOf(stored(accepted(2)))).toMatchObject({ status: "Unknown" });
    expect(verdictOf(stored(accepted(3)))).toMatchObject({
      status: "True",
      reason: "RouteAccepted",
    });
  });

  it("a route without parents is taken up by nothing", () => {
    const view = stored(undefined);
    expect(verdictOf({ ...view, parentRefs: [] })).toMatchObject({
      status: "False",
      reason: "RouteNotAccepted",
    });
  });

  it("names the parent and its reason when it refuses the route or cannot resolve its backends", () => {
    const refused = verdictOf(
      stored(
        parent([
          {
            type: "Accepted",
            status: "False",
            reason: "NotAllowedByListeners",
            message: "no listener allows this namespace",
            observedGeneration: 3,
          },
        ]),
      ),
    );
    expect(refused).toMatchObject({ status: "False", reason: "RouteNotAccepted" });
    expect(refused.message).toContain("Service shop/search (example.com/mesh)");
    expect(refused.message).toContain("NotAllowedByListeners: no listener allows this namespace");
    expect(
      verdictOf(
        stored(
          parent([
            { type: "Accepted", status: "True", reason: "Accepted", observedGeneration: 3 },
            {
              type: "ResolvedRefs",
              status: "False",
              reason: "BackendNotFound",
              observedGeneration: 3,
            },
          ]),
        ),
      ),
    ).toMatchObject({ status: "False", reason: "RouteRefsUnresolved" });
  });
});

describe("the HTTPRoute CRD", () => {
  const schema = (percent: boolean) => ({
    openAPIV3Schema: {
      properties: {
        spec: {
          properties: {
            rules: {
              items: {
                properties: {
                  name: {},
                  filters: {
                    items: {
                      properties: {
                        requestMirror: { properties: percent ? { percent: {} } : {} },
                      },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  });
  const crd = (established: boolean) => ({
    metadata: { name: "httproutes.gateway.networking.k8s.io" },
    spec: {
      versions: [
        { name: "v1", served: true, schema: schema(true) },
        { name: "v1beta1", served: true, schema: schema(false) },
        { name: "v1alpha2", served: true },
      ],
    },
    status: { conditions: [{ type: "Established", status: established ? "True" : "False" }] },
  });

  it("says which versions are served, oldest first, and what each schema holds", () => {
    expect(routeApi(crd(true))?.served).toEqual([
      { version: "v1beta1", ruleNames: true, mirrorPercent: false },
      { version: "v1", ruleNames: true, mirrorPercent: true },
    ]);
    expect(routeApi(crd(false))?.served).toEqual([]);
  });
});

describe("finalizing a route Fledge made", () => {
  /** The router over one stored route, with the patches it sends recorded. */
  function finalizing(parentRefs: { kind: "Service" | "Gateway"; name: string }[]) {
    const patches: { path: string; body: Record<string, unknown> }[] = [];
    const client = new (class extends KubeClient {
      override async request<T>(method: string, path: string, body?: unknown) {
        patches.push({ path: `${method} ${path}`, body: body as Record<string, unknown> });
        return { ok: true, value: body } as KubeResult<T>;
      }
    })({} as never);
    const view = routeView({
      metadata: {
        name: "search",
        namespace: "shop",
        generation: 2,
        resourceVersion: "7",
        labels: { "app.kubernetes.io/managed-by": "fledge", "fledge.dev/rollout": "search" },
        ownerReferences: [{ kind: "Rollout", name: "search" }],
      },
      spec: {
        parentRefs: parentRefs.map((p) => parentRefOf(p, "shop")),
        rules: rulesFor([], route, { canaryWeight: 20, mirrorPercent: 10 }),
      },
    });
    const router = new GatewayRouter(
      client,
      { version: "v1", ruleNames: true, mirrorPercent: true },
      { apiVersion: "auto", parentRefs },
      { get: () => view, remember: () => {} },
    );
    return { router, patches };
  }

  it("a mesh route sends every request to the target and is left to go with the Rollout", async () => {
    const { router, patches } = finalizing([{ kind: "Service", name: "search" }]);
    expect((await router.finalize(route)).ok).toBe(true);
    expect(patches).toHaveLength(1);
    const body = patches[0]?.body as { metadata: Record<string, unknown>; spec: { rules: Json[] } };
    expect(body.metadata.ownerReferences).toBeUndefined();
    expect(body.spec.rules[0]?.backendRefs).toEqual([
      svc("search-primary", 0),
      svc("search-canary", 100),
    ]);
    expect(body.spec.rules[0]?.filters).toEqual([]);
  });

  it("a route with a Gateway parent is handed back: to the apex Service, no longer owned or labelled", async () => {
    const { router, patches } = finalizing([{ kind: "Gateway", name: "edge" }]);
    expect((await router.finalize(route)).ok).toBe(true);
    const body = patches[0]?.body as { metadata: Record<string, unknown>; spec: { rules: Json[] } };
    expect(patches[0]?.path).toBe(
      "PATCH /apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes/search",
    );
    expect(body.metadata).toMatchObject({
      resourceVersion: "7",
      ownerReferences: null,
      labels: { "fledge.dev/rollout": null, "app.kubernetes.io/managed-by": null },
    });
    expect(body.spec.rules).toEqual([
      {
        matches: [{ path: { type: "PathPrefix", value: "/" } }],
        filters: [],
        backendRefs: [svc("search", 1)],
      },
    ]);
  });
});
