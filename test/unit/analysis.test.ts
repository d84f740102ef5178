import { describe, expect, it } from "vitest";
import { judge } from "../../src/analysis/judge.ts";
import { longestScrapeInterval, parseQueryAnswer } from "../../src/analysis/prometheus.ts";
import {
  builtinQuery,
  parsePromDuration,
  promDuration,
  renderQuery,
} from "../../src/analysis/promql.ts";
import { readingOnce } from "../../src/analysis/secrets.ts";
import { readingsOf, trafficMetricsError } from "../../src/analysis/traffic-metrics.ts";
import { payloadOf } from "../../src/analysis/webhooks.ts";
import { type Metric, RolloutSpec } from "../../src/api/rollout.ts";
import type { TrafficMetrics } from "../../src/api/smi.ts";
import { outcomeNotifications } from "../../src/controller/record.ts";
import { describeResults } from "../../src/machine/context.ts";

const vars = { namespace: "shop", target: "podinfo", canary: "podinfo-canary", interval: "30s" };
const PROM = "http://prometheus.test:9090";

const vector = (...values: string[]) =>
  JSON.stringify({
    status: "success",
    data: {
      resultType: "vector",
      result: values.map((v, i) => ({ metric: { i: String(i) }, value: [1700000000, v] })),
    },
  });

describe("PromQL", () => {
  it("fills the template variables and refuses names it does not know", () => {
    expect(
      renderQuery('sum(rate(x{namespace="{{namespace}}",app="{{ target }}"}[{{interval}}]))', vars),
    ).toEqual({ ok: true, query: 'sum(rate(x{namespace="shop",app="podinfo"}[30s]))' });
    expect(renderQuery("{{canary}}", vars)).toEqual({ ok: true, query: "podinfo-canary" });
    const typo = renderQuery("x{app='{{targt}}'}", vars);
    expect(typo.ok).toBe(false);
    if (!typo.ok) expect(typo.reason).toContain("{{targt}}");
    // A template's args are filled before a query gets here; one left over is named, not sent.
    expect(renderQuery("x{app='{{ args.app }}'}", vars)).toEqual({
      ok: false,
      reason:
        "the query uses {{args.app}}; the variables are {{namespace}}, {{target}}, {{canary}}, {{interval}}",
    });
  });

  it("writes windows as Prometheus durations and reads its configuration's", () => {
    expect(promDuration(30_000)).toBe("30s");
    expect(promDuration(1_500)).toBe("1500ms");
    expect(parsePromDuration("1m30s")).toBe(90_000);
    expect(parsePromDuration("15s")).toBe(15_000);
    expect(parsePromDuration("fast")).toBeUndefined();
  });

  it("queries each mesh's own names, server side, for the target Deployment only", () => {
    const linkerd = builtinQuery("linkerd", "request-success-rate", vars);
    expect(linkerd.value).toContain(
      'response_total{namespace="shop",deployment="podinfo",direction="inbound",classification!="failure"}[30s]',
    );
    const all = 'response_total{namespace="shop",deployment="podinfo",direction="inbound"}';
    expect(linkerd.requests).toBe(
      `sum(((increase(${all}[30s]) and ${all} offset 30s) or (last_over_time(${all}[30s]) unless ${all} offset 30s)))`,
    );
    // The rate rests on the very requests the count counts.
    expect(linkerd.value.endsWith(` / ${linkerd.requests} * 100`)).toBe(true);
    const envoy = builtinQuery("envoy", "request-duration-p99-ms", vars);
    expect(envoy.value).toMatch(/^histogram_quantile\(0\.99, sum by \(le\) \(\(\(increase\(/);
    expect(envoy.value).toContain(
      'last_over_time(istio_request_duration_milliseconds_bucket{reporter="destination",destination_workload_namespace="shop",destination_workload="podinfo"}[30s])',
    );
    const osm = builtinQuery("osm", "request-success-rate", vars);
    expect(osm.value).toContain('envoy_response_code_class!="5"');
    expect(osm.value).toContain('source_workload_name="podinfo"');
    expect(builtinQuery("osm", "request-duration-p50-ms", vars).value).toContain(
      "histogram_quantile(0.5, sum by (le) (((increase(envoy_cluster_upstream_rq_time_bucket{",
    );
  });
});

describe("Prometheus answers", () => {
  it("one series or a scalar is a number; an empty vector and NaN are no data", () => {
    expect(parseQueryAnswer(200, vector("99.5"), PROM)).toEqual({ ok: true, value: 99.5 });
    expect(parseQueryAnswer(200, vector(), PROM)).toEqual({ ok: true, value: undefined });
    expect(parseQueryAnswer(200, vector("NaN"), PROM)).toEqual({ ok: true, value: undefined });
    expect(parseQueryAnswer(200, vector("+Inf"), PROM)).toEqual({ ok: true, value: undefined });
    const scalar = JSON.stringify({
      status: "success",
      data: { resultType: "scalar", result: [1700000000, "12"] },
    });
    expect(parseQueryAnswer(200, scalar, PROM)).toEqual({ ok: true, value: 12 });
  });

  it("names what went wrong: the query, the credentials, a page that is not JSON, many series", () => {
    const bad = JSON.stringify({
      status: "error",
      errorType: "bad_data",
      error: 'invalid parameter "query": 1:5: parse error: unexpected "}"',
    });
    const reason = (status: number, body: string) => {
      const a = parseQueryAnswer(status, body, PROM);
      return a.ok ? "" : a.reason;
    };
    expect(reason(400, bad)).toBe(
      `Prometheus at ${PROM} rejected the query (bad_data: invalid parameter "query": 1:5: parse error: unexpected "}")`,
    );
    expect(reason(401, "Unauthorized")).toBe(
      `Prometheus at ${PROM} refused the credentials (401): Unauthorized`,
    );
    expect(reason(200, "<html><body>Sign in</body></html>")).toContain(
      "with something other than JSON: <html><body>Sign in",
    );
    expect(reason(200, vector("1", "2"))).toContain("returned 2 series; it must return one");
  });

  it("the longest scrape interval in the configuration, with its job", () => {
    const yaml = `
global:
  scrape_interval: 15s
scrape_configs:
  - job_name: prometheus
  - job_name: mesh
    scrape_interval: 1m
  - job_name: fast
    scrape_interval: 1s
`;
    expect(longestScrapeInterval(yaml)).toEqual({ ms: 60_000, source: "Prometheus job mesh" });
    expect(longestScrapeInterval("scrape_configs: []")).toEqual({
      ms: 60_000,
      source: "Prometheus's global scrape_interval",
    });
    expect(longestScrapeInterval(": : :")).toHaveProperty("reason");
  });
});

describe("SMI TrafficMetrics", () => {
  const metric = (name: string): Metric => ({
    name,
    thresholdRange: { min: 0 },
    provider: { type: "smi" },
  });
  const tm = (metrics: TrafficMetrics["metrics"]): TrafficMetrics => ({
    kind: "TrafficMetrics",
    resource: { kind: "Deployment", name: "podinfo", namespace: "shop" },
    timestamp: "2026-01-01T00:00:00Z",
    window: "30s",
    metrics,
  });

  it("success rate from the counts, latencies in milliseconds whatever the unit", () => {
    const readings = readingsOf(
      tm([
        { name: "success_count", value: "175" },
        { name: "failure_count", value: "25" },
        { name: "p99_response_latency", unit: "ms", value: "120500m" },
        { name: "p50_response_latency", unit: "seconds", value: "10m" },
      ]),
      ["request-success-rate", "request-duration-p99-ms", "request-duration-p50-ms"].map(metric),
    );
    expect(readings).toEqual([
      { ok: true, reading: { value: 87.5, requests: 200 } },
      { ok: true, reading: { value: 120.5, requests: 200 } },
      { ok: true, reading: { value: 10, requests: 200 } },
    ]);
  });

  it("no traffic is no data, never a rate of zero", () => {
    const [rate, p90] = readingsOf(
      tm([
        { name: "success_count", value: "0" },
        { name: "failure_count", value: "0" },
        { name: "p90_response_latency", value: null },
      ]),
      [metric("request-success-rate"), metric("request-duration-p90-ms")],
    );
    expect(rate).toEqual({ ok: true, reading: { value: undefined, requests: 0 } });
    expect(p90).toEqual({ ok: true, reading: { value: undefined, requests: 0 } });
  });

  it("an API the cluster does not serve says so", () => {
    expect(
      trafficMetricsError({
        status: 404,
        reason: "NotFound",
        message: "the server could not find",
      }),
    ).toContain("is not served by this cluster");
    expect(
      trafficMetricsError({ status: 503, reason: "ServiceUnavailable", message: "unavailable" }),
    ).toContain("registered but unavailable");
  });
});

describe("judgement", () => {
  it("a failure names the metric, its value and its threshold", () => {
    const r = judge("request-success-rate", { value: 87.5, requests: 200 }, { min: 99 }, 10);
    expect(r).toMatchObject({ outcome: "failed", value: 87.5, requests: 200 });
    expect(describeResults([r], "failed")).toBe("request-success-rate: 87.5 < min 99");
    const slow = judge("request-duration-p99-ms", { value: 812, requests: 50 }, { max: 500 }, 10);
    expect(describeResults([slow], "failed")).toBe("request-duration-p99-ms: 812 > max 500");
  });

  it("too few requests and no data are inconclusive, a user query's unknown count is not", () => {
    expect(judge("m", { value: 50, requests: 3 }, { min: 99 }, 10)).toMatchObject({
      outcome: "inconclusive",
      message: "3 requests, fewer than minRequestCount 10",
    });
    expect(judge("m", { value: undefined, requests: 100 }, { min: 99 }, 10)).toMatchObject({
      outcome: "inconclusive",
      message: "no data",
    });
    expect(judge("m", { value: 5, requests: undefined }, { max: 10 }, 10)).toMatchObject({
      outcome: "passed",
      value: 5,
    });
  });
});

describe("webhooks", () => {
  it("rollback when a rollback begins, post-rollout when a rollout ends, each once", () => {
    expect(outcomeNotifications("progressing", "rollingBack")).toEqual([{ type: "rollback" }]);
    expect(outcomeNotifications("rollingBack", "failed")).toEqual([{ type: "post-rollout" }]);
    expect(outcomeNotifications("progressing", "failed")).toEqual([
      { type: "rollback" },
      { type: "post-rollout" },
    ]);
    expect(outcomeNotifications("promoting", "healthy")).toEqual([{ type: "post-rollout" }]);
    expect(outcomeNotifications("healthy", "healthy")).toEqual([]);
    expect(outcomeNotifications("failed", "failed")).toEqual([]);
  });

  it("the payload carries the rollout, its step and weight, and the hook's metadata", () => {
    const spec = RolloutSpec.parse({
      targetRef: { name: "podinfo" },
      service: { port: 9898 },
      steps: [{ setWeight: 10 }, { setWeight: 20 }],
    });
    const subject = {
      namespace: "shop",
      name: "podinfo",
      target: "podinfo",
      canaryService: "podinfo-canary",
      spec,
      phase: "Progressing",
      stepIndex: 1,
      canaryWeight: 20,
    };
    const hook = {
      name: "load",
      type: "rollout" as const,
      url: "http://x/",
      timeout: "5s",
      metadata: { cmd: "hey" },
    };
    expect(payloadOf(subject, hook, { eventReason: "StepAdvanced" })).toEqual({
      name: "podinfo",
      namespace: "shop",
      phase: "Progressing",
      step: 2,
      weight: 20,
      type: "rollout",
      metadata: { cmd: "hey", eventReason: "StepAdvanced" },
    });
    // Promoted: the machine has moved past the last step, the payload stays at it.
    expect(payloadOf({ ...subject, phase: "Healthy", stepIndex: 2 }, hook).step).toBe(2);
  });
});

describe("readingOnce", () => {
  it("reads each Secret key once however many metrics ask for it", async () => {
    const asked: string[] = [];
    const read = readingOnce(async (namespace, ref) => {
      asked.push(`${namespace}/${ref.name}/${ref.key}`);
      return { ok: true, value: ref.key };
    });
    const token = { name: "prom", key: "token" };
    const answers = await Promise.all([
      read("shop", token),
      read("shop", token),
      read("shop", { name: "prom", key: "ca" }),
    ]);
    expect(answers.map((a) => a.ok && a.value)).toEqual(["token", "token", "ca"]);
    expect(asked).toEqual(["shop/prom/token", "shop/prom/ca"]);
  });
});
