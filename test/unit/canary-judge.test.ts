import { describe, expect, it } from "vitest";
import {
  type Compared,
  classify,
  describeJudgement,
  judgeComparison,
} from "../../src/analysis/compare/score.ts";

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
