import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { AnalysisSubject } from "../../src/analysis/analyst.ts";
import { judgeShare } from "../../src/analysis/weight/bound.ts";
import { WEIGHT_CONDITION, weightCondition } from "../../src/analysis/weight/condition.ts";
import {
  type RequestCounter,
  verificationOf,
  WEIGHT_CHECK,
  weightCheck,
} from "../../src/analysis/weight/verify.ts";
import { parseAs } from "../../src/api/parse.ts";
import {
  API_VERSION,
  type RolloutSpec,
  type RolloutStatus,
  RolloutSpec as Spec,
} from "../../src/api/rollout.ts";
import { analysisSubject, falseConditionNotices } from "../../src/controller/record.ts";
import { type RolloutObject, rolloutObject } from "../../src/controller/rollout-object.ts";
import { initialContext, observe } from "../../src/machine/context.ts";
import { planFromSpec } from "../../src/machine/plan.ts";

describe("the binomial bound on the canary's share", () => {
  it("never flags a window without requests, at any weight", () => {
    for (const weight of [0, 1, 40, 99, 100]) expect(judgeShare(0, 0, weight).agrees).toBe(true);
  });

  it("flags a canary that served none of 412 requests at 40%, naming the counts that would agree", () => {
    const v = judgeShare(0, 412, 40);
    expect(v).toMatchObject({ requests: 412, observedPercent: 0, agrees: false });
    // 164.8 ± (4·sqrt(412·0.4·0.6) + 3 + 2% of 412)
    expect(v.low).toBeCloseTo(113.8, 1);
    expect(v.high).toBeCloseTo(215.8, 1);
  });

  it("does not flag low traffic that a fair coin could give: 0 of 5 at 40%", () => {
    expect(judgeShare(0, 5, 40).agrees).toBe(true);
  });

  it("catches a mesh that ignores a 40% split once 50 requests were served", () => {
    expect(judgeShare(0, 50, 40).agrees).toBe(false);
  });

  it("at weight 0 and 100 allows only the slack on the side that should be empty", () => {
    expect(judgeShare(5, 995, 0).agrees).toBe(true);
    expect(judgeShare(30, 970, 0).agrees).toBe(false);
    expect(judgeShare(995, 5, 100).agrees).toBe(true);
    expect(judgeShare(970, 30, 100).agrees).toBe(false);
    expect(judgeShare(0, 1000, 0).agrees).toBe(true);
    expect(judgeShare(1000, 0, 100).agrees).toBe(true);
  });

  it("always agrees when the canary served exactly its weight's share, and keeps low ≤ np ≤ high", () => {
    fc.assert(
      fc.property(fc.nat(100_000), fc.integer({ min: 0, max: 100 }), (n, weight) => {
        const canary = (n * weight) / 100;
        const v = judgeShare(canary, n - canary, weight);
        expect(v.agrees).toBe(true);
        expect(v.low).toBeLessThanOrEqual(canary);
        expect(v.high).toBeGreaterThanOrEqual(canary);
        expect(v.low).toBeGreaterThanOrEqual(0);
        expect(v.high).toBeLessThanOrEqual(n);
      }),
    );
  });
});

const specOf = (analysis: object, extra: object = {}): RolloutSpec => {
  const parsed = parseAs(
    Spec,
    {
      targetRef: { name: "podinfo" },
      service: { port: 9898 },
      steps: [{ setWeight: 40 }],
      analysis: { interval: "30s", ...analysis },
      ...extra,
    },
    "spec",
  );
  if (!parsed.ok) throw new Error(parsed.error);
  return parsed.value;
};

const SMI = { metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }] };
const LINKERD = {
  metrics: [
    {
      name: "request-duration-p99-ms",
      thresholdRange: { max: 500 },
      provider: { type: "prometheus", mesh: "linkerd" },
    },
  ],
};

const ROLLOUT = rolloutObject({
  apiVersion: API_VERSION,
  metadata: { namespace: "shop", name: "podinfo", uid: "u", generation: 1, resourceVersion: "1" },
  spec: {},
});

const subjectOf = (spec: RolloutSpec, over: Partial<AnalysisSubject> = {}): AnalysisSubject => ({
  ...analysisSubject(ROLLOUT as RolloutObject, spec, {
    phase: "Progressing",
    stepIndex: 0,
    canaryWeight: 40,
    mirrorPercent: 0,
    weightHeldMs: 60_000,
  }),
  ...over,
});

/** A counter that answers with fixed counts and remembers what it was asked. */
function counter(counts: number[] | string) {
  const asked: string[] = [];
  const count: RequestCounter = async (_subject, source, deployments) => {
    asked.push(`${source.kind}: ${deployments.join(", ")}`);
    return typeof counts === "string"
      ? { ok: false, reason: counts }
      : { ok: true, counts: [...counts] };
  };
  return { asked, count };
}

describe("where the requests are counted", () => {
  it("SMI TrafficMetrics when the rollout reads them, else the first Prometheus metric with a mesh", () => {
    expect(verificationOf(specOf(SMI))).toEqual({ on: true, source: { kind: "smi" } });
    const prom = verificationOf(specOf(LINKERD));
    expect(prom.on && prom.source.kind === "prometheus" && prom.source.metric.name).toBe(
      "request-duration-p99-ms",
    );
  });

  it("nowhere when turned off, for an A/B rollout, or with only users' own queries", () => {
    expect(verificationOf(specOf({ ...SMI, verifyWeight: false }))).toEqual({
      on: false,
      reason: undefined,
    });
    const ab = specOf(SMI, {
      trafficRouting: { smi: { matches: [{ name: "insiders", headers: { "x-canary": "1" } }] } },
    });
    expect(verificationOf(ab)).toMatchObject({ on: false, reason: expect.stringMatching(/A\/B/) });
    const own = specOf({
      metrics: [
        {
          name: "errors",
          thresholdRange: { max: 1 },
          provider: { type: "prometheus", query: "sum(rate(errors[1m]))" },
        },
      ],
    });
    expect(verificationOf(own)).toMatchObject({
      on: false,
      reason: expect.stringMatching(/no metric counts requests/),
    });
  });
});

describe("the weight's check", () => {
  it("holds, without failing, a step whose canary served none of the requests, with both numbers", async () => {
    const { asked, count } = counter([0, 412]);
    const result = await weightCheck(subjectOf(specOf(SMI)), count);
    expect(asked).toEqual(["smi: podinfo, podinfo-primary"]);
    expect(result).toEqual({
      name: WEIGHT_CHECK,
      outcome: "inconclusive",
      value: 0,
      requests: 412,
      message:
        "canary served 0.0% of 412 requests; the route says 40% (114 to 215 canary requests would agree)",
    });
  });

  it("passes a share within the bound", async () => {
    const result = await weightCheck(subjectOf(specOf(LINKERD)), counter([150, 262]).count);
    expect(result).toMatchObject({ outcome: "passed", value: 36.4, requests: 412 });
    expect(result?.message).toBe("canary served 36.4% of 412 requests; the route says 40%");
  });

  it("passes a window without requests, which says nothing of the weight", async () => {
    const result = await weightCheck(subjectOf(specOf(SMI)), counter([0, 0]).count);
    expect(result).toMatchObject({ outcome: "passed" });
    expect(result?.value).toBeUndefined();
  });

  /** A check that judged no share, and asked for no counts to judge one by. */
  const unjudged = async (over: Partial<AnalysisSubject>) => {
    const { asked, count } = counter([0, 412]);
    const result = await weightCheck(subjectOf(specOf(SMI), over), count);
    expect(asked).toEqual([]);
    expect(result?.value).toBeUndefined();
    return result;
  };

  it("holds a step whose weight has not yet been in effect a whole window, without counting", async () => {
    const result = await unjudged({ weightHeldMs: 12_000 });
    expect(result).toMatchObject({ outcome: "inconclusive" });
    expect(result?.message).toMatch(/for 12s of the 30s window/);
  });

  it("does not judge a share while requests are mirrored to the canary", async () => {
    expect(await unjudged({ mirrorPercent: 20 })).toMatchObject({ outcome: "passed" });
  });

  it("errors the check when the requests cannot be counted", async () => {
    const result = await weightCheck(subjectOf(specOf(LINKERD)), counter("Prometheus down").count);
    expect(result).toMatchObject({ outcome: "errored" });
    expect(result?.message).toBe(
      "cannot count requests on the linkerd request series of metric request-duration-p99-ms: Prometheus down",
    );
  });

  it("is not made when verification is off or has no source", async () => {
    const { asked, count } = counter([0, 412]);
    expect(await weightCheck(subjectOf(specOf({ ...SMI, verifyWeight: false })), count)).toBe(
      undefined,
    );
    expect(await weightCheck(subjectOf(specOf({})), count)).toBe(undefined);
    expect(asked).toEqual([]);
  });
});

describe("the WeightObserved condition", () => {
  const held = { name: WEIGHT_CHECK, outcome: "inconclusive" as const, value: 0, message: "m" };

  it("is False with the check's numbers when a share was observed off the weight, True when on it", () => {
    expect(weightCondition(specOf(SMI), [held])).toEqual({
      status: "False",
      reason: "WeightNotObserved",
      message: "m",
    });
    expect(weightCondition(specOf(SMI), [{ ...held, outcome: "passed", value: 38 }])).toMatchObject(
      { status: "True", reason: "WeightObserved" },
    );
  });

  it("is Unknown when no share was judged, or when there is nothing to count by", () => {
    const unjudged = { ...held, value: undefined, message: "not a whole window" };
    expect(weightCondition(specOf(SMI), [unjudged])).toEqual({
      status: "Unknown",
      reason: "WeightNotVerified",
      message: "not a whole window",
    });
    const own = specOf({
      metrics: [
        { name: "e", thresholdRange: { max: 1 }, provider: { type: "prometheus", query: "x" } },
      ],
    });
    expect(weightCondition(own, [])).toMatchObject({ status: "Unknown" });
  });

  it("is absent when turned off, without metrics, or before the first check", () => {
    expect(weightCondition(specOf({ ...SMI, verifyWeight: false }), [held])).toBe(undefined);
    expect(weightCondition(specOf({}), [])).toBe(undefined);
    expect(weightCondition(specOf(SMI), [])).toBe(undefined);
  });

  it("tells an Event when it first turns False, not again while it stays so", () => {
    const statusWith = (status: string, message: string): RolloutStatus => ({
      conditions: [
        {
          type: WEIGHT_CONDITION,
          status: status as "True",
          reason: status === "False" ? "WeightNotObserved" : "WeightObserved",
          message,
          lastTransitionTime: "2026-01-01T00:00:00Z",
        },
      ],
    });
    const first = falseConditionNotices(
      WEIGHT_CONDITION,
      statusWith("True", "ok"),
      statusWith("False", "canary served 0.0%"),
    );
    expect(first).toEqual([
      { type: "Warning", reason: "WeightNotObserved", message: "canary served 0.0%" },
    ]);
    expect(
      falseConditionNotices(
        WEIGHT_CONDITION,
        statusWith("False", "canary served 0.0%"),
        statusWith("False", "canary served 0.1%"),
      ),
    ).toEqual([]);
  });
});

describe("when the route took its weight", () => {
  const plan = planFromSpec(specOf(SMI));
  if (!plan.ok) throw new Error(plan.error);
  it("is the first time a weight was observed, not each time it is seen again", () => {
    let c = initialContext(plan.value, 0);
    c = observe(c, { type: "TRAFFIC", canaryWeight: 40, now: 1_000 });
    c = observe(c, { type: "TRAFFIC", canaryWeight: 40, now: 5_000 });
    expect(c.trafficSince).toBe(1_000);
    c = observe(c, { type: "TRAFFIC", canaryWeight: 40, mirrorPercent: 10, now: 7_000 });
    expect(c.trafficSince).toBe(7_000);
  });
});
