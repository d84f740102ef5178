import { describe, expect, test } from "vitest";
import { parseQuantity } from "../../src/api/quantity.ts";
import {
  behaviourOf,
  exampleFor,
  formatGoDuration,
  type HttpMatch,
  matchesRequest,
  milliQuantity,
  PLAIN_REQUEST,
  parseGoDuration,
  quantile,
  readMatches,
  requestFor,
  sampleLatencyMs,
  seededRandom,
} from "../harness/simulator/model.ts";
import { RequestLog } from "../harness/simulator/request-log.ts";
import {
  type ClusterSnapshot,
  type DeploymentInfo,
  type RouteGroupInfo,
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

const service = (name: string, app: string): ServiceInfo => ({
  namespace: NS,
  name,
  selector: { app },
  port: 9898,
});

function cluster(parts: {
  services: ServiceInfo[];
  deployments: DeploymentInfo[];
  splits: SplitInfo[];
  routeGroups?: RouteGroupInfo[];
}): ClusterSnapshot {
  return {
    service: (ns, name) => parts.services.find((s) => s.namespace === ns && s.name === name),
    deployments: (ns) => parts.deployments.filter((d) => d.namespace === ns),
    splits: (ns, apex) => parts.splits.filter((s) => s.namespace === ns && s.apex === apex),
    routeGroup: (ns, name) => parts.routeGroups?.find((g) => g.namespace === ns && g.name === name),
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

function tally(snapshot: ClusterSnapshot, request = PLAIN_REQUEST, n = 10_000) {
  const random = seededRandom(7);
  const counts = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const routed = route(snapshot, NS, "podinfo", request, random);
    const key = routed.kind === "served" ? routed.deployment : `unroutable:${routed.service}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
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
