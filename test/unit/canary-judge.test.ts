import { describe, expect, it } from "vitest";
import { compareCheck, SCORE } from "../../src/analysis/compare/check.ts";
import {
  type Compared,
  classify,
  describeJudgement,
  judgeComparison,
} from "../../src/analysis/compare/score.ts";
import { parseRangeAnswer, type Sides } from "../../src/analysis/prometheus.ts";
import { parseAs } from "../../src/api/parse.ts";
import { RolloutSpec } from "../../src/api/rollout.ts";

/** 30 samples around `centre`, spread ±5% by a fixed pattern: a window of scrapes. */
const around = (centre: number, phase = 0) =>
  Array.from({ length: 30 }, (_, i) => centre * (1 + 0.05 * Math.sin(i * 1.7 + phase)));

const metric = (over: Partial<Compared> = {}): Compared => ({
  name: "request-duration-p50-ms",
  direction: "increase-is-bad",
  tolerancePercent: 10,
  weight: 1,
  canary: around(120),
  baseline: around(100, 0.4),
  ...over,
});

const THRESHOLDS = { pass: 95, marginal: 75 };

describe("comparing the canary with the primary", () => {
  it("a canary 20% slower than the primary, under any absolute threshold, is High and fails", () => {
    const j = judgeComparison([metric()], THRESHOLDS);
    expect(j.metrics[0]).toMatchObject({ classification: "High", bad: true });
    expect(j).toMatchObject({ score: 0, outcome: "failed" });
    const shift = j.metrics[0]?.relative;
    expect(shift?.estimate).toBeGreaterThan(0.15);
    expect(shift?.lower).toBeGreaterThan(0.1);
    expect(describeJudgement(j.metrics[0] as never)).toMatch(
      /^request-duration-p50-ms: canary \+\d+% \(95% CI \+\d+%\.\.\+\d+%\) vs primary$/,
    );
  });

  it("a canary like the primary passes", () => {
    const j = judgeComparison([metric({ canary: around(100, 2.1) })], THRESHOLDS);
    expect(j.metrics[0]).toMatchObject({ classification: "Pass", bad: false });
    expect(j).toMatchObject({ score: 100, outcome: "passed" });
  });

  it("a shift inside the tolerance passes even when significant", () => {
    const j = classify(metric({ canary: around(104), tolerancePercent: 10 }));
    expect(j.p).toBeLessThan(0.05);
    expect(j.relative?.estimate).toBeGreaterThan(0);
    expect(j.classification).toBe("Pass");
  });

  it("too few samples on either side is NoData: inconclusive, never a pass and never a failure", () => {
    const few = metric({ canary: [120, 121] });
    expect(classify(few).classification).toBe("NoData");
    expect(judgeComparison([few], THRESHOLDS).outcome).toBe("inconclusive");
    const good = metric({ name: "success", canary: around(100, 2.1) });
    expect(judgeComparison([good, few], THRESHOLDS).outcome).toBe("inconclusive");
  });

  it("the direction says which difference is bad", () => {
    const lower = { canary: around(80), baseline: around(100, 0.4) };
    expect(classify(metric({ ...lower, direction: "decrease-is-bad" }))).toMatchObject({
      classification: "Low",
      bad: true,
    });
    expect(classify(metric({ ...lower, direction: "increase-is-bad" }))).toMatchObject({
      classification: "Low",
      bad: false,
    });
    expect(classify(metric({ direction: "either" }))).toMatchObject({ bad: true });
  });

  it("the score is the weighted share that pass; between marginal and pass is inconclusive", () => {
    const j = judgeComparison(
      [
        metric({ name: "p50", weight: 1 }),
        metric({ name: "success", weight: 3, canary: around(100, 2.1) }),
      ],
      THRESHOLDS,
    );
    expect(j.score).toBe(75);
    expect(j.outcome).toBe("inconclusive");
  });
});

describe("a check of compared metrics", () => {
  const subject = {
    namespace: "shop",
    name: "podinfo",
    target: "podinfo",
    canaryService: "podinfo-canary",
    phase: "Progressing",
    stepIndex: 0,
    canaryWeight: 20,
    spec: parseAs(
      RolloutSpec,
      {
        targetRef: { name: "podinfo" },
        service: { port: 9898 },
        steps: [{ setWeight: 20 }],
        analysis: {
          metrics: [
            {
              name: "request-duration-p50-ms",
              compare: { tolerance: 10 },
              provider: { type: "prometheus", mesh: "linkerd" },
            },
            { name: "request-success-rate", thresholdRange: { min: 99 } },
          ],
        },
      },
      "spec",
    ),
  };
  const spec = (subject.spec.ok ? subject.spec.value : undefined) as RolloutSpec;
  const asked: string[] = [];
  const reader = (sides: Sides) => ({
    sides: async (_s: unknown, m: { name: string }, primary: string) => {
      asked.push(`${m.name} vs ${primary}`);
      return sides;
    },
  });

  it("reads both sides of each compared metric, the primary by its name, and scores them", async () => {
    const result = await compareCheck(
      reader({ ok: true, canary: around(120), baseline: around(100, 0.4) }),
      { ...subject, spec },
      spec.analysis.metrics,
    );
    expect(asked).toEqual(["request-duration-p50-ms vs podinfo-primary"]);
    expect(result).toMatchObject({ name: SCORE, outcome: "failed", value: 0 });
    expect(result?.message).toMatch(/^request-duration-p50-ms: canary \+\d+% \(95% CI/);
    expect(result?.compared?.[0]).toMatchObject({ classification: "High", bad: true });
  });

  it("a side that cannot be read errors the check, never fails it", async () => {
    const result = await compareCheck(
      reader({ ok: false, reason: "Prometheus at http://prom:9090 could not answer" }),
      { ...subject, spec },
      spec.analysis.metrics,
    );
    expect(result).toMatchObject({
      outcome: "errored",
      message: "request-duration-p50-ms: Prometheus at http://prom:9090 could not answer",
    });
  });
});

describe("a range query's answer", () => {
  const body = (result: unknown) =>
    JSON.stringify({ status: "success", data: { resultType: "matrix", result } });
  it("is one series' samples in order, NaN left out; no series is no samples", () => {
    const series = {
      metric: {},
      values: [
        [1, "10"],
        [2, "NaN"],
        [3, "12.5"],
      ],
    };
    expect(parseRangeAnswer(200, body([series]), "http://p")).toEqual({
      ok: true,
      values: [10, 12.5],
    });
    expect(parseRangeAnswer(200, body([]), "http://p")).toEqual({ ok: true, values: [] });
    expect(parseRangeAnswer(200, body([series, series]), "http://p")).toMatchObject({
      ok: false,
      reason: expect.stringContaining("2 series"),
    });
  });
});
