import { describe, expect, it } from "vitest";
import {
  backoffDelay,
  classifyFailure,
  FAILURE_KINDS,
  FailureRun,
  isTooLargeResourceVersion,
  MAX_BACKOFF_MS,
  MIN_BACKOFF_MS,
  QUICK_MAX_BACKOFF_MS,
  resourceOf,
} from "../../src/kube/informer-health.ts";
import { statusCauses } from "../../src/kube/request.ts";
import { ControllerMetrics, type WatchedInformer } from "../../src/observability/metrics.ts";

// What kube-apiserver sends when its watch cache is behind the resourceVersion asked for
// (storage.NewTooLargeResourceVersionError), as an answer's body or a watch's ERROR object.
const tooLarge = {
  kind: "Status",
  apiVersion: "v1",
  status: "Failure",
  message: "Timeout: Too large resource version: 1200, current: 1100",
  reason: "Timeout",
  details: {
    causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
    retryAfterSeconds: 1,
  },
  code: 504,
};

describe("classifying a failed list or watch", () => {
  it("knows the too-large resourceVersion by its cause, and by its message from older servers", () => {
    expect(statusCauses(tooLarge)).toEqual(["ResourceVersionTooLarge"]);
    expect(isTooLargeResourceVersion({ ...tooLarge, causes: statusCauses(tooLarge) })).toBe(true);
    expect(classifyFailure({ ...tooLarge, causes: statusCauses(tooLarge) })).toBe(
      "too-large-resource-version",
    );
    // An answer (not a watch event) reaches the informer as a RequestFailure.
    expect(
      classifyFailure({
        kind: "status",
        status: 504,
        reason: "Timeout",
        message: tooLarge.message,
        causes: ["ResourceVersionTooLarge"],
      }),
    ).toBe("too-large-resource-version");
    // Before 1.19 the cause was not named; a 504 Timeout said it in its message.
    expect(classifyFailure({ code: 504, reason: "Timeout", message: tooLarge.message })).toBe(
      "too-large-resource-version",
    );
    // Another timeout is not it.
    expect(
      classifyFailure({ code: 504, reason: "Timeout", message: "request did not complete" }),
    ).toBe("timeout");
    expect(classifyFailure({ code: 200, message: tooLarge.message })).toBe("bad-answer");
  });

  it("sorts the rest by what they say of the apiserver", () => {
    const status = (code: number) => ({
      kind: "status" as const,
      status: code,
      reason: "",
      message: "",
    });
    expect(
      classifyFailure({ kind: "network", message: "connect ECONNREFUSED 127.0.0.1:6443" }),
    ).toBe("unreachable");
    expect(classifyFailure({ kind: "network", message: "connection closed mid-stream" })).toBe(
      "unreachable",
    );
    expect(classifyFailure({ kind: "network", message: "no answer in 60000 ms" })).toBe("timeout");
    expect(classifyFailure(status(403))).toBe("forbidden");
    expect(classifyFailure(status(401))).toBe("forbidden");
    expect(classifyFailure(status(429))).toBe("throttled");
    expect(classifyFailure(status(504))).toBe("timeout");
    expect(classifyFailure(status(500))).toBe("server-error");
    expect(classifyFailure(status(503))).toBe("server-error");
    expect(classifyFailure(status(404))).toBe("client-error");
    expect(classifyFailure({ code: 500, message: "etcdserver: leader changed" })).toBe(
      "server-error",
    );
  });
});

describe("the backoff between failed lists and watches", () => {
  it("doubles from 100 ms with jitter in the upper half, up to 1 s while the apiserver is away", () => {
    for (const kind of ["unreachable", "forbidden", "throttled"] as const) {
      for (let n = 0; n < 40; n++) {
        const ceiling = Math.min(QUICK_MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** n);
        expect(backoffDelay(kind, n, 0)).toBe(ceiling / 2);
        expect(backoffDelay(kind, n, 0.999999)).toBeLessThanOrEqual(ceiling);
        expect(backoffDelay(kind, n, 0.999999)).toBeGreaterThan(ceiling * 0.99);
      }
    }
    // The first tries stay quick: a restarted apiserver is noticed within a second.
    expect([0, 1, 2, 3].map((n) => backoffDelay("unreachable", n, 1))).toEqual([
      100, 200, 400, 800,
    ]);
    expect(backoffDelay("unreachable", 100, 1)).toBe(1_000);
  });

  it("grows to 30 s while the apiserver answers but cannot serve", () => {
    expect(
      Array.from({ length: 12 }, (_, n) => backoffDelay("too-large-resource-version", n, 1)),
    ).toEqual([100, 200, 400, 800, 1600, 3200, 6400, 12800, 25600, 30000, 30000, 30000]);
    for (const kind of [
      "too-large-resource-version",
      "timeout",
      "server-error",
      "bad-answer",
    ] as const)
      for (let n = 0; n < 1000; n += 7) {
        const d = backoffDelay(kind, n, Math.random());
        expect(d).toBeGreaterThanOrEqual(Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** n) / 2);
        expect(d).toBeLessThanOrEqual(MAX_BACKOFF_MS);
      }
  });

  it("spreads informers that failed together", () => {
    const delays = new Set(Array.from({ length: 50 }, () => backoffDelay("timeout", 8)));
    expect(delays.size).toBeGreaterThan(10);
  });
});

describe("a run of failures", () => {
  it("grows each class's backoff apart, says it once past the threshold, and ends when a watch works", () => {
    const run = new FailureRun(10_000);
    const t0 = 1_000_000;
    expect(run.health(true, t0)).toMatchObject({ failing: false, failingSince: undefined });
    // An outage's refused connections do not grow the backoff of the loaded apiserver after it.
    for (let i = 0; i < 20; i++)
      expect(run.failed("unreachable", "refused", t0 + i * 1000, 1)).toBeLessThanOrEqual(1_000);
    expect(run.failed("server-error", "HTTP 500", t0 + 20_000, 1)).toBe(100);
    expect(run.failed("server-error", "HTTP 500", t0 + 20_100, 1)).toBe(200);
    expect(run.announce(t0 + 20_100)).toBe(true);
    expect(run.announce(t0 + 25_000)).toBe(false);
    expect(run.health(true, t0 + 25_000)).toMatchObject({
      synced: true,
      failing: true,
      failingSince: t0,
      failures: 22,
      kind: "server-error",
      reason: "HTTP 500",
    });
    expect(run.health(true, t0).totals).toMatchObject({ unreachable: 20, "server-error": 2 });
    expect(run.worked(t0 + 30_000)).toEqual({ outageMs: 30_000, failures: 22 });
    expect(run.health(true, t0 + 30_000)).toMatchObject({
      failing: false,
      failingSince: undefined,
      failures: 0,
      kind: undefined,
    });
    // Totals are for ever (a counter); the next run starts its backoff afresh.
    expect(run.health(true, t0).totals).toMatchObject({ unreachable: 20, "server-error": 2 });
    expect(run.failed("server-error", "HTTP 500", t0 + 40_000, 1)).toBe(100);
  });

  it("a short run is not said, nor its recovery", () => {
    const run = new FailureRun(10_000);
    run.failed("unreachable", "refused", 0);
    run.failed("unreachable", "refused", 5_000);
    expect(run.announce(9_999)).toBe(false);
    expect(run.untilThreshold(5_000)).toBe(5_000);
    expect(run.worked(9_999)).toBeUndefined();
    expect(run.untilThreshold(10_000)).toBeUndefined();
  });
});

it("names an informer's collection for the metrics", () => {
  expect(resourceOf("/apis/fledge.dev/v1alpha1/rollouts")).toBe("rollouts.fledge.dev");
  expect(resourceOf("/apis/apps/v1/namespaces/shop/deployments")).toBe("deployments.apps");
  expect(resourceOf("/api/v1/services")).toBe("services");
  expect(
    resourceOf(
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
      "metadata.name=trafficsplits.split.smi-spec.io",
    ),
  ).toBe("customresourcedefinitions.apiextensions.k8s.io/trafficsplits.split.smi-spec.io");
});

it("the metrics show each informer's health and count its failures by kind", async () => {
  const metrics = new ControllerMetrics();
  const run = new FailureRun(10_000);
  const since = Date.now() - 12_000;
  run.failed("too-large-resource-version", "watch ERROR 504", since);
  run.failed("timeout", "no answer in 60000 ms", since + 1);
  const failing: WatchedInformer = {
    resource: "rollouts.fledge.dev",
    get health() {
      return run.health(true, Date.now());
    },
  };
  const fine: WatchedInformer = { resource: "services", health: new FailureRun().health(true, 0) };
  metrics.watchInformers(() => [failing, fine]);
  const scrape = () => metrics.registry.metrics();
  let text = await scrape();
  expect(text).toContain('fledge_informer_synced{resource="rollouts.fledge.dev"} 0');
  expect(text).toContain('fledge_informer_synced{resource="services"} 1');
  expect(text).toContain('fledge_informer_failing_seconds{resource="services"} 0');
  const seconds = Number(
    /^fledge_informer_failing_seconds\{resource="rollouts.fledge.dev"\} ([\d.]+)$/m.exec(text)?.[1],
  );
  expect(seconds).toBeGreaterThanOrEqual(12);
  expect(seconds).toBeLessThan(60);
  expect(text).toContain(
    'fledge_informer_failures_total{resource="rollouts.fledge.dev",reason="too-large-resource-version"} 1',
  );
  expect(text).toContain(
    'fledge_informer_failures_total{resource="rollouts.fledge.dev",reason="timeout"} 1',
  );
  // Scraped again, the counter grows by what failed in between, not by the totals again.
  run.failed("timeout", "no answer in 60000 ms", Date.now());
  text = await scrape();
  expect(text).toContain(
    'fledge_informer_failures_total{resource="rollouts.fledge.dev",reason="timeout"} 2',
  );
  expect(text).toContain(
    'fledge_informer_failures_total{resource="rollouts.fledge.dev",reason="too-large-resource-version"} 1',
  );
  run.worked(Date.now());
  text = await scrape();
  expect(text).toContain('fledge_informer_synced{resource="rollouts.fledge.dev"} 1');
  expect(text).toContain('fledge_informer_failing_seconds{resource="rollouts.fledge.dev"} 0');
  expect(FAILURE_KINDS).toHaveLength(8);
});
