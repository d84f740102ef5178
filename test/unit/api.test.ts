import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { durationMs } from "../../src/api/common.ts";
import { renderCrds } from "../../src/api/crd/render.ts";
import { parseAs } from "../../src/api/parse.ts";
import { formatQuantity, parseQuantity } from "../../src/api/quantity.ts";
import { Rollout } from "../../src/api/rollout.ts";
import { TrafficMetrics, TrafficSplit } from "../../src/api/smi.ts";
import { planFromSpec } from "../../src/machine/plan.ts";

const rollout = (spec: Record<string, unknown>) => ({
  apiVersion: "fledge.dev/v1alpha1",
  kind: "Rollout",
  metadata: { name: "podinfo", namespace: "shop" },
  spec: {
    targetRef: { name: "podinfo" },
    service: { port: 9898 },
    steps: [{ setWeight: 10 }, { pause: { duration: "2m" } }, { setWeight: 50 }, { pause: {} }],
    ...spec,
  },
});

describe("the Rollout schema", () => {
  it("refuses a metric or webhook named as one of Fledge's own results, whose status it would share", () => {
    for (const analysis of [
      {
        metrics: [
          {
            name: "canary-score",
            thresholdRange: { max: 1 },
            provider: { type: "prometheus", query: "up" },
          },
        ],
      },
      { webhooks: [{ name: "traffic-weight", url: "http://x/" }] },
    ]) {
      const parsed = parseAs(Rollout, rollout({ analysis }), "Rollout shop/podinfo");
      expect(parsed.ok).toBe(false);
      if (!parsed.ok) expect(parsed.error).toContain("name Fledge's own results in a check");
    }
  });

  it("accepts the design's example and fills the defaults the CRD also applies", () => {
    const parsed = parseAs(Rollout, rollout({}), "Rollout shop/podinfo");
    if (!parsed.ok) throw new Error(parsed.error);
    const { spec } = parsed.value;
    expect(spec.targetRef).toEqual({ apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" });
    expect(spec.analysis).toMatchObject({
      interval: "1m",
      failureLimit: 3,
      errorLimit: 5,
      minRequestCount: 10,
    });
    expect(spec.progressDeadlineSeconds).toBe(600);
    expect(spec.trafficRouting.smi?.apiVersion).toBe("auto");
  });

  it.each([
    [{ steps: [{ setWeight: 101 }] }, "spec.steps[0].setWeight: Too big"],
    [
      { steps: [{ setWeight: "ten" }] },
      "spec.steps[0].setWeight: Invalid input: expected number, received string",
    ],
    [
      { steps: [{ pause: { duration: "soon" } }] },
      'spec.steps[0].pause.duration: must be a duration such as "30s"',
    ],
    [{ service: { port: 0 } }, "spec.service.port: Too small"],
    [{ targetRef: {} }, "spec.targetRef.name: Invalid input"],
    [{ steps: [] }, "spec.steps: a canary rollout needs at least one step"],
    [
      { strategy: "blueGreen", steps: [{ setWeight: 10 }] },
      "spec.steps: a blueGreen rollout takes no steps",
    ],
  ])("names the field and the rule: %j", (spec, message) => {
    const parsed = parseAs(Rollout, rollout(spec), "Rollout shop/podinfo");
    expect(parsed.ok).toBe(false);
    if (!parsed.ok) expect(parsed.error).toContain(`Rollout shop/podinfo: ${message}`);
  });

  it("turns the spec into the machine's plan in milliseconds", () => {
    const parsed = parseAs(
      Rollout,
      rollout({
        analysis: {
          interval: "30s",
          webhooks: [{ name: "gate", type: "confirm-promotion", url: "http://x/" }],
        },
      }),
      "r",
    );
    if (!parsed.ok) throw new Error(parsed.error);
    expect(planFromSpec(parsed.value.spec)).toMatchObject({
      ok: true,
      value: {
        steps: [
          { kind: "setWeight", weight: 10 },
          { kind: "pause", durationMs: 120_000 },
          { kind: "setWeight", weight: 50 },
          { kind: "pause" },
        ],
        intervalMs: 30_000,
        checks: false,
        confirmPromotionGate: true,
        preRolloutGate: false,
      },
    });
  });

  it("reads durations the way Kubernetes users write them", () => {
    expect(durationMs("1h30m")).toBe(5_400_000);
    expect(durationMs("1.5s")).toBe(1_500);
    expect(durationMs("250ms")).toBe(250);
  });
});

describe("SMI objects", () => {
  it("reads v1alpha1 quantity weights and TrafficMetrics values", () => {
    expect(parseQuantity("500m")).toBe(0.5);
    expect(parseQuantity("1k")).toBe(1000);
    expect(parseQuantity("1e3")).toBe(1000);
    expect(parseQuantity(42)).toBe(42);
    expect(parseQuantity("bogus")).toBeUndefined();
    expect(formatQuantity(0.25)).toBe("250m");
    const split = parseAs(
      TrafficSplit,
      {
        apiVersion: "split.smi-spec.io/v1alpha1",
        kind: "TrafficSplit",
        metadata: { name: "podinfo" },
        spec: {
          service: "podinfo",
          backends: [
            { service: "podinfo-primary", weight: "900m" },
            { service: "podinfo-canary", weight: "100m" },
          ],
        },
      },
      "TrafficSplit",
    );
    expect(split.ok).toBe(true);
    const metrics = parseAs(
      TrafficMetrics,
      {
        kind: "TrafficMetrics",
        resource: { kind: "Deployment", name: "podinfo", namespace: "shop" },
        timestamp: "2026-01-01T00:00:00Z",
        window: "30s",
        metrics: [
          { name: "p99_response_latency", unit: "ms", value: "12500m" },
          { name: "success_count", value: "95" },
        ],
      },
      "TrafficMetrics",
    );
    expect(metrics.ok).toBe(true);
  });

  it("rejects a split weight that is no quantity, naming the field", () => {
    const split = parseAs(
      TrafficSplit,
      {
        apiVersion: "split.smi-spec.io/v1alpha2",
        kind: "TrafficSplit",
        metadata: { name: "x" },
        spec: { service: "x", backends: [{ service: "y", weight: "lots" }] },
      },
      "TrafficSplit shop/x",
    );
    expect(split.ok).toBe(false);
    if (!split.ok) expect(split.error).toContain("spec.backends[0].weight");
  });
});

describe("crds/", () => {
  it("is exactly what the schemas generate (run npm run gen)", () => {
    const dir = join(import.meta.dirname, "../../crds");
    const generated = renderCrds();
    const onDisk = Object.fromEntries(
      readdirSync(dir)
        .filter((f) => f.endsWith(".yaml"))
        .map((f) => [f, readFileSync(join(dir, f), "utf8")]),
    );
    expect(onDisk).toEqual(generated);
  });

  it("is structural: every node typed, no $ref, no unions left", () => {
    const text = Object.values(renderCrds()).join("\n");
    expect(text).not.toMatch(/\$ref|anyOf|oneOf|additionalProperties: false/);
    expect(text).toContain("x-kubernetes-int-or-string: true");
    expect(text).toContain("x-kubernetes-validations");
  });
});
