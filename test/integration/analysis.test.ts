// The providers against real servers: loopback HTTP(S) servers speaking Prometheus's API and
// receiving webhooks, and the tier's kube-apiserver for Secrets and the TrafficMetrics API.

import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { AnalysisSubject } from "../../src/analysis/analyst.ts";
import { PrometheusProvider } from "../../src/analysis/prometheus.ts";
import { secretReader } from "../../src/analysis/secrets.ts";
import { TrafficMetricsProvider } from "../../src/analysis/traffic-metrics.ts";
import { gate, notifyWebhooks, webhookChecks } from "../../src/analysis/webhooks.ts";
import { type Metric, RolloutSpec } from "../../src/api/rollout.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { silentLogger } from "../../src/observability/logger.ts";
import { serviceAccountKubeConfig } from "../harness/control-plane.ts";
import { selfSignedCertificate } from "../harness/simulator/aggregated-api.ts";
import { adminClient, adminKubeConfig, newNamespace, ok } from "./support/cluster.ts";
import { controllerKubeconfig, tempDir } from "./support/controller.ts";

type Seen = {
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage["headers"];
  body: string;
};
type Reply = { status?: number; body?: string; hang?: boolean };

/** A loopback server answering with `reply` and keeping every request it saw. */
async function serve(
  reply: (seen: Seen) => Reply,
  tls?: { cert: string; key: string },
): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const handler = (req: IncomingMessage, res: import("node:http").ServerResponse) => {
    let body = "";
    req.on("data", (c) => {
      body += c;
    });
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://x");
      const s = { path: url.pathname, query: url.searchParams, headers: req.headers, body };
      seen.push(s);
      const r = reply(s);
      if (r.hang) return;
      res.writeHead(r.status ?? 200, { "content-type": "application/json" }).end(r.body ?? "");
    });
  };
  const server: Server = tls ? createHttpsServer(tls, handler) : createHttpServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `${tls ? "https" : "http"}://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const vector = (...values: string[]) =>
  JSON.stringify({
    status: "success",
    data: {
      resultType: "vector",
      result: values.map((v) => ({ metric: {}, value: [1700000000, v] })),
    },
  });

function subject(analysis: Record<string, unknown>): AnalysisSubject {
  return {
    namespace: "shop",
    name: "podinfo",
    target: "podinfo",
    canaryService: "podinfo-canary",
    spec: RolloutSpec.parse({
      targetRef: { name: "podinfo" },
      service: { port: 9898 },
      steps: [{ setWeight: 10 }],
      analysis,
    }),
    phase: "Progressing",
    stepIndex: 0,
    canaryWeight: 10,
  };
}

const metricsOf = (s: AnalysisSubject): Metric[] => s.spec.analysis.metrics;
const noSecrets = async () => ({ ok: false as const, reason: "no Secrets in this test" });

describe("the Prometheus provider against a loopback Prometheus API", () => {
  it("reads a built-in metric with its request count, sending the Secret's Authorization", async () => {
    const prom = await serve((s) => ({
      body: vector(s.query.get("query")?.endsWith("* 100") ? "99.5" : "120"),
    }));
    const provider = new PrometheusProvider({
      readSecret: async (namespace, ref) =>
        namespace === "shop" && ref.name === "prom" && ref.key === "token"
          ? { ok: true, value: "Bearer t0k3n" }
          : { ok: false, reason: "wrong Secret" },
    });
    const s = subject({
      interval: "30s",
      prometheus: { address: prom.url, authorization: { name: "prom", key: "token" } },
      metrics: [
        {
          name: "request-success-rate",
          thresholdRange: { min: 99 },
          provider: { type: "prometheus", mesh: "linkerd" },
        },
      ],
    });
    expect(await provider.read(s, metricsOf(s))).toEqual([
      { ok: true, reading: { value: 99.5, requests: 120 } },
    ]);
    expect(prom.seen).toHaveLength(2);
    for (const seen of prom.seen) {
      expect(seen.path).toBe("/api/v1/query");
      expect(seen.headers.authorization).toBe("Bearer t0k3n");
      expect(seen.query.get("query")).toContain(
        'namespace="shop",deployment="podinfo",direction="inbound"',
      );
      expect(seen.query.get("query")).toContain("[30s]");
    }
    await prom.close();
  });

  it("counts each Deployment's requests on the metric's Prometheus with its credentials; no series is none", async () => {
    const prom = await serve((s) => ({
      body: s.query.get("query")?.includes('deployment="podinfo-primary"')
        ? vector("412")
        : vector(),
    }));
    const provider = new PrometheusProvider({
      readSecret: async () => ({ ok: true, value: "Bearer t0k3n" }),
    });
    const s = subject({
      interval: "30s",
      metrics: [
        {
          name: "request-duration-p99-ms",
          thresholdRange: { max: 500 },
          provider: {
            type: "prometheus",
            mesh: "linkerd",
            prometheus: { address: prom.url, authorization: { name: "prom", key: "token" } },
          },
        },
      ],
    });
    const [metric] = metricsOf(s);
    if (!metric) throw new Error("no metric");
    expect(await provider.requestCounts(s, metric, ["podinfo", "podinfo-primary"])).toEqual({
      ok: true,
      counts: [0, 412],
    });
    expect(prom.seen.map((q) => q.headers.authorization)).toEqual(["Bearer t0k3n", "Bearer t0k3n"]);
    expect(
      prom.seen.every((q) => q.query.get("query")?.startsWith("sum(((increase(response_total{")),
    ).toBe(true);
    await prom.close();
  });

  it("a user's query is rendered, and an empty answer is no data with no request count", async () => {
    const prom = await serve(() => ({ body: vector() }));
    const provider = new PrometheusProvider({ defaultAddress: prom.url, readSecret: noSecrets });
    const s = subject({
      interval: "1m",
      metrics: [
        {
          name: "error-budget",
          thresholdRange: { max: 1 },
          provider: {
            type: "prometheus",
            query: 'sum(rate(errors{ns="{{namespace}}",svc="{{canary}}"}[{{interval}}]))',
          },
        },
      ],
    });
    expect(await provider.read(s, metricsOf(s))).toEqual([
      { ok: true, reading: { value: undefined, requests: undefined } },
    ]);
    expect(prom.seen[0]?.query.get("query")).toBe(
      'sum(rate(errors{ns="shop",svc="podinfo-canary"}[60s]))',
    );
    await prom.close();
  });

  it("says why it could not read: credentials, bad query, a page, silence, nobody there", async () => {
    const replies: Record<string, Reply> = {
      "401": { status: 401, body: "Unauthorized" },
      bad: {
        status: 400,
        body: JSON.stringify({
          status: "error",
          errorType: "bad_data",
          error: "1:14: parse error: unexpected <by>",
        }),
      },
      page: { status: 200, body: "<html>Sign in</html>" },
      hang: { hang: true },
    };
    const prom = await serve((s) => replies[s.query.get("query") ?? ""] ?? {});
    const closed = await serve(() => ({}));
    await closed.close();
    const provider = new PrometheusProvider({ defaultAddress: prom.url, readSecret: noSecrets });
    const reasonFor = async (query: string, address?: string) => {
      const s = subject({
        interval: "1s",
        metrics: [
          {
            name: "custom",
            thresholdRange: { max: 1 },
            provider: {
              type: "prometheus",
              query,
              ...(address ? { prometheus: { address } } : {}),
            },
          },
        ],
      });
      const [r] = await provider.read(s, metricsOf(s));
      return r?.ok ? "read" : r?.reason;
    };
    expect(await reasonFor("401")).toBe(
      `Prometheus at ${prom.url} refused the credentials (401): Unauthorized`,
    );
    expect(await reasonFor("bad")).toBe(
      `Prometheus at ${prom.url} rejected the query (bad_data: 1:14: parse error: unexpected <by>)`,
    );
    expect(await reasonFor("page")).toContain("something other than JSON: <html>Sign in</html>");
    expect(await reasonFor("hang")).toBe(`no answer from ${prom.url} within 1s`);
    expect(await reasonFor("up", closed.url)).toBe(
      `cannot reach ${closed.url}: connection refused`,
    );
    await prom.close();
  });

  it("TLS with a private CA from a Secret, or insecureSkipVerify; without either it says how", async () => {
    const cert = selfSignedCertificate("127.0.0.1");
    const prom = await serve(() => ({ body: vector("1") }), cert);
    const provider = new PrometheusProvider({
      readSecret: async () => ({ ok: true, value: cert.cert }),
    });
    const readWith = async (settings: Record<string, unknown>) => {
      const s = subject({
        metrics: [
          {
            name: "custom",
            thresholdRange: { max: 1 },
            provider: {
              type: "prometheus",
              query: "vector(1)",
              prometheus: { address: prom.url, ...settings },
            },
          },
        ],
      });
      return (await provider.read(s, metricsOf(s)))[0];
    };
    expect(await readWith({ caSecretRef: { name: "ca", key: "ca.crt" } })).toEqual({
      ok: true,
      reading: { value: 1, requests: undefined },
    });
    expect(await readWith({ insecureSkipVerify: true })).toMatchObject({ ok: true });
    const refused = await readWith({});
    expect(refused?.ok).toBe(false);
    if (refused && !refused.ok) {
      expect(refused.reason).toContain(`TLS with ${prom.url} failed`);
      expect(refused.reason).toContain("set caSecretRef or insecureSkipVerify");
    }
    await prom.close();
  });

  it("flags a window shorter than two scrapes, reading the scrape interval once per address", async () => {
    const config = "global:\n  scrape_interval: 15s\nscrape_configs:\n  - job_name: mesh\n";
    const prom = await serve((s) =>
      s.path === "/api/v1/status/config"
        ? { body: JSON.stringify({ status: "success", data: { yaml: config } }) }
        : { body: vector("1") },
    );
    const provider = new PrometheusProvider({ defaultAddress: prom.url, readSecret: noSecrets });
    const withInterval = (interval: string) => {
      const s = subject({
        interval,
        metrics: [
          {
            name: "request-success-rate",
            thresholdRange: { min: 99 },
            provider: { type: "prometheus", mesh: "envoy" },
          },
        ],
      });
      return provider.readiness(s, metricsOf(s));
    };
    expect(await withInterval("20s")).toEqual({
      status: "False",
      reason: "QueryWindowTooShort",
      message:
        "analysis.interval 20s is shorter than two scrape intervals of 15s (Prometheus's global scrape_interval): rate() over it can return no data; use at least 30s",
    });
    expect(await withInterval("30s")).toMatchObject({ status: "True", reason: "Ready" });
    expect(prom.seen.filter((s) => s.path === "/api/v1/status/config")).toHaveLength(1);
    await prom.close();

    const nowhere = new PrometheusProvider({ readSecret: noSecrets });
    const s = subject({
      metrics: [
        {
          name: "request-success-rate",
          thresholdRange: { min: 99 },
          provider: { type: "prometheus", mesh: "osm" },
        },
      ],
    });
    expect(await nowhere.readiness(s, metricsOf(s))).toMatchObject({
      status: "False",
      reason: "PrometheusNotConfigured",
    });
  });
});

describe("webhooks against a loopback receiver", () => {
  it("a gate opens on 2xx, is refused by any other answer, errors when nobody answers", async () => {
    let answer: Reply = { status: 412, body: "load test still running" };
    const hook = await serve(() => answer);
    const closed = await serve(() => ({}));
    await closed.close();
    const s = (url: string, timeout = "10s") =>
      subject({
        webhooks: [
          { name: "confirm", type: "confirm-promotion", url, timeout, metadata: { team: "a" } },
        ],
      });
    expect(await gate(s(hook.url), "confirm-promotion")).toEqual({
      outcome: "failed",
      message: "webhook confirm answered 412: load test still running",
    });
    answer = { status: 200 };
    expect(await gate(s(hook.url), "confirm-promotion")).toEqual({ outcome: "passed" });
    expect(JSON.parse(hook.seen[1]?.body ?? "")).toEqual({
      name: "podinfo",
      namespace: "shop",
      phase: "Progressing",
      step: 1,
      weight: 10,
      type: "confirm-promotion",
      metadata: { team: "a" },
    });
    expect(await gate(s(closed.url), "confirm-promotion")).toEqual({
      outcome: "errored",
      message: `webhook confirm: cannot reach ${closed.url}: connection refused`,
    });
    answer = { hang: true };
    expect(await gate(s(hook.url, "300ms"), "confirm-promotion")).toEqual({
      outcome: "errored",
      message: `webhook confirm: no answer from ${hook.url} within 300ms`,
    });
    await hook.close();
  });

  it("rollout webhooks are checks; event webhooks hear of each Event", async () => {
    const hook = await serve((s) => ({ status: s.path === "/bad" ? 500 : 202 }));
    const s = subject({
      webhooks: [
        { name: "smoke", type: "rollout", url: `${hook.url}/ok` },
        { name: "soak", type: "rollout", url: `${hook.url}/bad` },
        { name: "chat", type: "event", url: `${hook.url}/events` },
      ],
    });
    expect(await webhookChecks(s)).toEqual([
      { name: "smoke", outcome: "passed" },
      { name: "soak", outcome: "failed", message: "webhook soak answered 500" },
    ]);
    await notifyWebhooks(
      s,
      {
        type: "event",
        notice: {
          type: "Warning",
          reason: "AnalysisFailed",
          message: "request-success-rate: 87.5 < min 99",
        },
      },
      silentLogger,
    );
    const event = hook.seen.find((x) => x.path === "/events");
    expect(JSON.parse(event?.body ?? "{}").metadata).toEqual({
      eventType: "Warning",
      eventReason: "AnalysisFailed",
      eventMessage: "request-success-rate: 87.5 < min 99",
    });
    await hook.close();
  });
});

describe("through the kube-apiserver", () => {
  const tmp = tempDir();
  let asController: KubeClient;
  beforeAll(async () => {
    await controllerKubeconfig(tmp.dir);
    asController = await KubeClient.fromKubeConfig(
      await serviceAccountKubeConfig(adminKubeConfig(), "fledge-system", "fledge-controller"),
    );
  });
  afterAll(() => tmp.remove());

  it("the controller's ServiceAccount reads a Secret's key, and says which is missing", async () => {
    const admin = await adminClient();
    const ns = await newNamespace(admin, "secrets");
    ok(
      await admin.create(`/api/v1/namespaces/${ns}/secrets`, {
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "prom" },
        stringData: { token: "Bearer t0k3n\n" },
      }),
      "secret",
    );
    const readSecret = secretReader(asController);
    expect(await readSecret(ns, { name: "prom", key: "token" })).toEqual({
      ok: true,
      value: "Bearer t0k3n",
    });
    expect(await readSecret(ns, { name: "prom", key: "ca.crt" })).toEqual({
      ok: false,
      reason: `Secret ${ns}/prom has no key ca.crt`,
    });
    expect(await readSecret(ns, { name: "gone", key: "token" })).toEqual({
      ok: false,
      reason: `Secret ${ns}/gone does not exist`,
    });
  });

  it("TrafficMetrics in a cluster that does not serve the API is an error saying so", async () => {
    const s = subject({ metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }] });
    const [r] = await new TrafficMetricsProvider(asController).read(s, metricsOf(s));
    expect(r?.ok).toBe(false);
    if (r && !r.ok) expect(r.reason).toContain("is not served by this cluster");
  });
});
