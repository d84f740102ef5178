// The canary judge's statistics held to R's. The reference numbers come from R 4.2.2 (Debian's
// r-base-core), run on the samples below as:
//
//   t <- wilcox.test(x, y, exact = FALSE, correct = TRUE)        # W and the p-value
//   d <- sort(as.vector(outer(x, y, "-")))                        # every pairwise difference
//   median(d)                                                     # Hodges-Lehmann
//   k <- max(1, floor(m*n/2 - qnorm(0.975) * sqrt(m*n*(m+n+1)/12)))
//   c(d[k], d[m*n - k + 1])                                       # the 95% interval
//
// with options(digits = 17). For sample A, which has no ties, R's exact test
// (wilcox.test(x, y, conf.int = TRUE, exact = TRUE)) gives the same interval, 1.0 to 3.5, and
// the same estimate, 2.25.

import { describe, expect, it } from "vitest";
import { mannWhitney } from "../../src/analysis/compare/mann-whitney.ts";

const range = (n: number, f: (i: number) => number) =>
  Array.from({ length: n }, (_, i) => f(i + 1));

const SAMPLES = {
  A: {
    canary: [12.1, 14.3, 13.8, 15.2, 16.9, 13.1, 14.7, 15.8, 17.3, 14.0, 16.2, 15.5],
    baseline: [11.2, 12.8, 13.3, 12.0, 14.1, 11.7, 13.6, 12.4, 13.0, 12.6],
    r: { u: 108, p: 0.0017358602386387974, estimate: 2.25, lower: 1, upper: 3.5 },
  },
  // Integers with many ties: the tie correction matters.
  B: {
    canary: [3, 5, 5, 6, 7, 7, 7, 8, 9, 9, 10, 12, 12, 13, 15],
    baseline: [2, 3, 3, 4, 5, 5, 6, 6, 7, 8, 8, 9, 10, 11, 11],
    r: { u: 150, p: 0.12322193006066239, estimate: 2, lower: -1, upper: 4 },
  },
  // 40 a side, as a short window of scrapes gives: R's ((1:40 * 37) %% 101) / 10 + 2 and
  // ((1:40 * 53) %% 97) / 10.
  C: {
    canary: range(40, (i) => ((i * 37) % 101) / 10 + 2),
    baseline: range(40, (i) => ((i * 53) % 97) / 10),
    r: { u: 1165.5, p: 0.00044401129721572438, estimate: 2.5, lower: 1.2, upper: 3.9 },
  },
  // A canary identical to its baseline.
  D: {
    canary: [11.2, 12.8, 13.3, 12.0, 14.1, 11.7, 13.6, 12.4, 13.0, 12.6],
    baseline: [11.2, 12.8, 13.3, 12.0, 14.1, 11.7, 13.6, 12.4, 13.0, 12.6],
    r: { u: 50, p: 1, estimate: 0, lower: -0.9, upper: 0.9 },
  },
};

describe("the Mann-Whitney U test and the Hodges-Lehmann shift, against R", () => {
  it.each(Object.entries(SAMPLES))("sample %s", (_, { canary, baseline, r }) => {
    const got = mannWhitney(canary, baseline);
    if (!got) throw new Error("no result");
    expect(got.u).toBe(r.u);
    expect(Math.abs(got.p - r.p)).toBeLessThan(1e-6 * Math.max(r.p, 1e-3));
    expect(got.shift.estimate).toBeCloseTo(r.estimate, 9);
    expect(got.shift.lower).toBeCloseTo(r.lower, 9);
    expect(got.shift.upper).toBeCloseTo(r.upper, 9);
  });

  it("is symmetric: swapping the samples mirrors the shift and keeps the p-value", () => {
    const { canary, baseline } = SAMPLES.B;
    const ab = mannWhitney(canary, baseline);
    const ba = mannWhitney(baseline, canary);
    expect(ba?.p).toBeCloseTo(ab?.p ?? Number.NaN, 12);
    expect(ba?.shift.estimate).toBe(-(ab?.shift.estimate ?? Number.NaN));
    expect(ba?.u).toBe(canary.length * baseline.length - (ab?.u ?? 0));
  });

  it("has nothing to say of an empty sample", () => {
    expect(mannWhitney([], [1, 2])).toBeUndefined();
    expect(mannWhitney([1], [])).toBeUndefined();
  });
});
