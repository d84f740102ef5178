// Canary analysis end to end: the controller under deploy/'s ServiceAccount, the simulator
// sending traffic by the TrafficSplit's weights, a real Prometheus scraping it every second and
// TrafficMetrics served through the apiserver. A bad revision is a real change to the
// Deployment's pod template (the simulator answers by its annotations).

import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import type { KubeClient } from "../../src/kube/client.ts";
import { type Prometheus, startPrometheus } from "../harness/prometheus.ts";
import {
  adminClient,
  eventually,
  eventWith,
  newNamespace,
  ok,
  paths,
  rolloutManifest,
} from "../integration/support/cluster.ts";
import { Podinfo, type RolloutJson, type Steps } from "../integration/support/rollouts.ts";
import { controllerOnPrometheus } from "./support/controller.ts";
import { type Receiver, webhookReceiver } from "./support/hooks.ts";
import { requestsBy } from "./support/simulator.ts";

type Status = NonNullable<RolloutJson["status"]> & {
  failedChecks?: number;
  erroredChecks?: number;
  metrics?: {
    name: string;
    outcome: string;
    value?: number;
    requests?: number;
    message?: string;
  }[];
};

const SUCCESS_RATE = "fledge.dev/sim-success-rate";
const LATENCY = "fledge.dev/sim-latency-ms";

let client: KubeClient;
let hooks: Receiver;
const world = controllerOnPrometheus("info");

beforeAll(async () => {
  client = await adminClient();
  hooks = await webhookReceiver();
});

afterAll(async () => {
  await hooks?.close();
});

const status = async (p: Podinfo) => ((await p.rollout()).status ?? {}) as Status;

/** Waits for the rollout of a new revision to settle in `phase`, keeping every status seen. */
async function settles(p: Podinfo, stable: string | undefined, phase: string, timeoutMs = 120_000) {
  const seen: Status[] = [];
  const last = await eventually(
    `${p.ns}/podinfo to settle ${phase}`,
    async () => {
      const s = await status(p);
      seen.push(s);
      if (s.phase === "Failed" && phase !== "Failed")
        throw new Error(`rolled back: ${s.message}\n${world.controller.logs().slice(-3000)}`);
      const moved = phase === "Healthy" ? s.stableRevision !== stable : s.canaryRevision;
      return s.phase === phase && moved ? s : undefined;
    },
    timeoutMs,
  );
  return { last, seen };
}

const prometheusMetric = (name: string, mesh: string, range: Record<string, number>) => ({
  name,
  thresholdRange: range,
  provider: { type: "prometheus", mesh },
});

const steps: Steps = [{ setWeight: 20 }, { setWeight: 50 }];

/**
 * The routers the canary's judgement runs on alike: SMI (the default) and the Gateway API's
 * HTTPRoute, whose A/B rule the simulator names route/rule/match.
 */
const ROUTERS = [
  {
    router: "SMI TrafficSplit",
    key: "smi",
    routing: (smi: object = {}) => ({ trafficRouting: { smi } }),
    abKind: "podinfo/insiders",
  },
  {
    router: "Gateway API HTTPRoute",
    key: "gw",
    routing: (gatewayAPI: object = {}) => ({ trafficRouting: { gatewayAPI } }),
    abKind: "podinfo/fledge-ab/0",
  },
];

describe.each(ROUTERS)("on the $router router", ({ key, routing, abKind }) => {
  test("a good canary is promoted through every step, on Prometheus with Linkerd's metrics", async () => {
    const analysis = {
      interval: "3s",
      minRequestCount: 5,
      metrics: [
        prometheusMetric("request-success-rate", "linkerd", { min: 99 }),
        prometheusMetric("request-duration-p99-ms", "linkerd", { max: 500 }),
      ],
    };
    const { p, initial } = await Podinfo.healthy(client, `${key}-prom-good`, steps, {
      analysis,
      ...routing(),
    });
    const ready = (initial.status?.conditions ?? []).find((c) => c.type === "AnalysisReady");
    expect(ready).toMatchObject({ status: "True", reason: "Ready" });
    const weights = p.recordWeights();
    await p.newRevision("v2");
    const { seen } = await settles(p, initial.status?.stableRevision, "Healthy");
    await weights.stop();
    expect(weights.seen.filter((w) => w > 0)).toEqual([20, 50]);
    const judged = seen.flatMap((s) => s.metrics ?? []).filter((m) => m.outcome === "passed");
    const rate = judged.find((m) => m.name === "request-success-rate");
    expect(rate?.value).toBe(100);
    expect(rate?.requests).toBeGreaterThanOrEqual(5);
    expect(judged.some((m) => m.name === "request-duration-p99-ms" && m.value !== undefined)).toBe(
      true,
    );
  });

  test("a bad canary (10% errors, on Istio-style Envoy metrics) is rolled back; the Event names the metric, rollback and event webhooks are told", async () => {
    const hook = (path: string) => `${hooks.url}/${key}/errors/${path}`;
    const analysis = {
      interval: "3s",
      failureLimit: 2,
      minRequestCount: 5,
      metrics: [prometheusMetric("request-success-rate", "envoy", { min: 99 })],
      webhooks: [
        { name: "pager", type: "rollback", url: hook("rollback") },
        { name: "done", type: "post-rollout", url: hook("post") },
        { name: "chat", type: "event", url: hook("events") },
      ],
    };
    const { p, initial } = await Podinfo.healthy(client, `${key}-prom-errors`, steps, {
      analysis,
      ...routing(),
    });
    await p.newRevision("v2", { [SUCCESS_RATE]: "0.9" });
    const { last } = await settles(p, initial.status?.stableRevision, "Failed");
    expect(last.stableRevision).toBe(initial.status?.stableRevision);
    expect(last.canaryWeight).toBe(0);
    expect(await p.weight()).toBe(0);
    const ready = last.conditions?.find((c) => c.type === "Ready");
    expect(ready?.reason).toBe("AnalysisFailed");
    expect(ready?.message).toMatch(/request-success-rate: \d+(\.\d+)? < min 99/);
    const failed = await eventWith(client, p.ns, "AnalysisFailed");
    expect(failed?.type).toBe("Warning");
    expect(failed?.message).toMatch(
      /2 failed checks reached failureLimit 2: request-success-rate: \d+(\.\d+)? < min 99/,
    );
    const told = (path: string) =>
      hooks.received.filter((r) => r.path === `/${key}/errors/${path}`);
    await eventually("the post-rollout webhook", () => (told("post").length ? true : undefined));
    expect(told("rollback")).toHaveLength(1);
    expect(told("rollback")[0]?.body).toMatchObject({
      name: "podinfo",
      namespace: p.ns,
      type: "rollback",
    });
    expect(told("post")).toHaveLength(1);
    expect(told("post")[0]?.body).toMatchObject({ phase: "Failed" });
    // Event webhooks are told beside the reconcile, so they may arrive after the others.
    const reasons = () =>
      told("events").map((r) => (r.body.metadata as Record<string, string>).eventReason);
    await eventually("the AnalysisFailed Event at the event webhook", () =>
      reasons().includes("AnalysisFailed") ? true : undefined,
    );
    expect(reasons()).toContain("RolloutStarted");
  });

  test("an A/B rollout sends only requests matching its header to the canary, until promotion", async () => {
    const { p, initial } = await Podinfo.healthy(
      client,
      `${key}-ab`,
      [{ setWeight: 100 }, { pause: { duration: "20s" } }],
      routing({ matches: [{ name: "insiders", headers: { "x-canary": "insider" } }] }),
    );
    await p.newRevision("v2");
    await eventually("all matching requests on the canary", async () =>
      (await p.weight()) === 100 ? true : undefined,
    );
    const during = await nextRequests(p.ns, 150, "request_kind", "deployment");
    expect(during(`${abKind}|podinfo`)).toBeGreaterThan(0);
    expect(during(`${abKind}|podinfo-primary`)).toBe(0);
    expect(during("plain|podinfo-primary")).toBeGreaterThan(0);
    expect(during("plain|podinfo")).toBe(0);
    await settles(p, initial.status?.stableRevision, "Healthy");
    const later = await nextRequests(p.ns, 150, "request_kind", "deployment");
    expect(later(`${abKind}|podinfo`)).toBe(0);
    expect(later(`${abKind}|podinfo-primary`)).toBeGreaterThan(0);
  });
});

describe("a good canary is promoted through every step", () => {
  test("on SMI TrafficMetrics, read through the apiserver", async () => {
    const analysis = {
      interval: "3s",
      minRequestCount: 5,
      metrics: [
        { name: "request-success-rate", thresholdRange: { min: 99 } },
        { name: "request-duration-p99-ms", thresholdRange: { max: 500 } },
      ],
    };
    const { p, initial } = await Podinfo.healthy(client, "smi-good", steps, { analysis });
    await p.newRevision("v2");
    const { seen } = await settles(p, initial.status?.stableRevision, "Healthy");
    const passed = seen.flatMap((s) => s.metrics ?? []).filter((m) => m.outcome === "passed");
    expect(passed.find((m) => m.name === "request-success-rate")?.value).toBe(100);
    expect(passed.find((m) => m.name === "request-duration-p99-ms")?.value).toBeLessThan(500);
  });
});

describe("a bad canary is rolled back, and the condition names the metric", () => {
  test("p99 latency over its threshold, on OSM's Envoy metrics", async () => {
    const analysis = {
      interval: "3s",
      failureLimit: 2,
      minRequestCount: 5,
      metrics: [prometheusMetric("request-duration-p99-ms", "osm", { max: 500 })],
    };
    const { p, initial } = await Podinfo.healthy(client, "prom-slow", steps, { analysis });
    await p.newRevision("v2", { [LATENCY]: "p50=300,p99=900" });
    const { last } = await settles(p, initial.status?.stableRevision, "Failed");
    expect(last.conditions?.find((c) => c.type === "Ready")?.message).toMatch(
      /request-duration-p99-ms: \d+(\.\d+)? > max 500/,
    );
  });
});

test("Prometheus stopped mid-analysis: errors are counted apart, nothing rolls back, the rollout goes on", async () => {
  const prometheus: Prometheus = await startPrometheus({
    targets: [inject("simulatorMetricsUrl")],
  });
  try {
    const analysis = {
      interval: "2s",
      errorLimit: 30,
      inconclusiveLimit: 30,
      minRequestCount: 3,
      prometheus: { address: prometheus.url },
      metrics: [prometheusMetric("request-success-rate", "linkerd", { min: 99 })],
    };
    const { p, initial } = await Podinfo.healthy(
      client,
      "prom-outage",
      [{ setWeight: 20 }, { setWeight: 40 }, { setWeight: 60 }],
      { analysis },
    );
    await p.newRevision("v2");
    await eventually("a passing check", async () => {
      const s = await status(p);
      return s.metrics?.some((m) => m.outcome === "passed") ? s : undefined;
    });
    await prometheus.stop();
    const held = await eventually(
      "three errored checks",
      async () => {
        const s = await status(p);
        if (s.phase === "RollingBack" || s.phase === "Failed")
          throw new Error(`rolled back on errors: ${s.message}`);
        return (s.erroredChecks ?? 0) >= 3 ? s : undefined;
      },
      60_000,
    );
    expect(held.phase).toBe("Progressing");
    expect(held.failedChecks ?? 0).toBe(0);
    expect(held.metrics?.[0]?.message).toBe(`cannot reach ${prometheus.url}: connection refused`);
    const errored = await eventWith(client, p.ns, "CheckErrored");
    expect(errored?.message).toContain("connection refused");
    await prometheus.start();
    await settles(p, initial.status?.stableRevision, "Healthy");
  } finally {
    await prometheus.close();
  }
});

test("a confirm-promotion webhook holds promotion until it answers 2xx", async () => {
  hooks.answer("/confirm", 503);
  const analysis = {
    interval: "2s",
    webhooks: [
      { name: "approve", type: "confirm-promotion", url: `${hooks.url}/confirm` },
      { name: "done", type: "post-rollout", url: `${hooks.url}/confirm/post` },
    ],
  };
  const { p, initial } = await Podinfo.healthy(client, "confirm", [{ setWeight: 50 }], {
    analysis,
  });
  await p.newRevision("v2");
  const asked = () => hooks.received.filter((r) => r.path === "/confirm");
  await eventually("three refusals", () => (asked().length >= 3 ? true : undefined), 60_000);
  const held = await status(p);
  expect(held.phase).toBe("Progressing");
  expect(held.stableRevision).toBe(initial.status?.stableRevision);
  expect(held.canaryWeight).toBe(50);
  expect(asked()[0]?.body).toMatchObject({ type: "confirm-promotion", weight: 50 });
  const gateHeld = await eventWith(client, p.ns, "GateHeld");
  expect(gateHeld?.message).toContain("webhook approve answered 503: not yet");
  hooks.answer("/confirm", 200);
  await settles(p, initial.status?.stableRevision, "Healthy");
  await eventually("the post-rollout webhook", () =>
    hooks.received.some((r) => r.path === "/confirm/post") ? true : undefined,
  );
  const post = hooks.received.filter((r) => r.path === "/confirm/post");
  expect(post).toHaveLength(1);
  expect(post[0]?.body).toMatchObject({ phase: "Healthy", type: "post-rollout" });
});

/** What the simulator's requests in a namespace did over the next `count` of them, by labels. */
async function nextRequests(ns: string, count: number, ...labels: string[]) {
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const before = await requestsBy(ns, ...labels);
  const after = await eventually(`${count} more requests in ${ns}`, async () => {
    const now = await requestsBy(ns, ...labels);
    return total(now) - total(before) >= count ? now : undefined;
  });
  return (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
}

test("event webhooks also hear of what the controller reports about the spec", async () => {
  const ns = await newNamespace(client, "no-target");
  const spec = {
    targetRef: { name: "podinfo" },
    service: { port: 9898 },
    steps: [{ setWeight: 50 }],
    analysis: { webhooks: [{ name: "chat", type: "event", url: `${hooks.url}/problems` }] },
  };
  ok(await client.create(paths.rollouts(ns), rolloutManifest(ns, "podinfo", spec)), "rollout");
  const told = await eventually("the event webhook", () =>
    hooks.received.find((r) => r.path === "/problems"),
  );
  expect(told.body).toMatchObject({
    name: "podinfo",
    namespace: ns,
    type: "event",
    metadata: { eventType: "Warning", eventReason: "TargetNotFound" },
  });
});

test("a query window shorter than two of the real Prometheus's scrapes is flagged", async () => {
  const analysis = {
    interval: "1500ms",
    metrics: [prometheusMetric("request-success-rate", "linkerd", { min: 99 })],
  };
  const { p } = await Podinfo.healthy(client, "short-window", steps, { analysis });
  const flagged = await eventually("AnalysisReady False", async () =>
    (await status(p)).conditions?.find(
      (c) => c.type === "AnalysisReady" && c.reason === "QueryWindowTooShort",
    ),
  );
  expect(flagged.status).toBe("False");
  expect(flagged.message).toMatch(
    /^analysis.interval 1.5s is shorter than two scrape intervals of 1s \(Prometheus.+\).*use at least 2s$/,
  );
});
