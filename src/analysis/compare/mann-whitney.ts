import jStat from "jstat";

/** How far the canary's values lie from the primary's: the Hodges-Lehmann estimate and its interval. */
export type Shift = { estimate: number; lower: number; upper: number };

export type MannWhitney = {
  /** The Mann-Whitney U of the canary's sample (R's W). */
  u: number;
  /** The normal approximation's statistic, tie- and continuity-corrected. */
  z: number;
  /** Two-sided p-value. */
  p: number;
  shift: Shift;
};

/** Average ranks (1-based) of the pooled values, ties sharing the mean of their ranks. */
function ranks(values: readonly number[]): { ranks: number[]; ties: number[] } {
  const order = values.map((v, i) => ({ v, i })).sort((a, b) => a.v - b.v);
  const out = new Array<number>(values.length);
  const ties: number[] = [];
  for (let start = 0; start < order.length; ) {
    let end = start;
    while (end + 1 < order.length && order[end + 1]?.v === order[start]?.v) end++;
    const rank = (start + end) / 2 + 1;
    for (let k = start; k <= end; k++) out[(order[k] as { i: number }).i] = rank;
    if (end > start) ties.push(end - start + 1);
    start = end + 1;
  }
  return { ranks: out, ties };
}

const median = (sorted: readonly number[]) => {
  const mid = sorted.length / 2;
  return sorted.length % 2
    ? (sorted[Math.floor(mid)] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
};

/**
 * The two-sided Mann-Whitney U test of `canary` against `baseline` (Kayenta's default), by the
 * normal approximation with the tie and continuity corrections (R's wilcox.test with exact =
 * FALSE, correct = TRUE), and the Hodges-Lehmann shift of canary from baseline: the median of
 * all pairwise differences, with the distribution-free interval of those differences whose
 * ranks the same normal approximation bounds at `confidence`. Undefined for an empty sample.
 */
export function mannWhitney(
  canary: readonly number[],
  baseline: readonly number[],
  confidence = 0.95,
): MannWhitney | undefined {
  const m = canary.length;
  const n = baseline.length;
  if (m === 0 || n === 0) return undefined;
  const pooled = ranks([...canary, ...baseline]);
  const rankSum = pooled.ranks.slice(0, m).reduce((a, b) => a + b, 0);
  const u = rankSum - (m * (m + 1)) / 2;
  const total = m + n;
  const tieTerm = pooled.ties.reduce((sum, t) => sum + t ** 3 - t, 0);
  const sigma = Math.sqrt(((m * n) / 12) * (total + 1 - tieTerm / (total * (total - 1))));
  const centred = u - (m * n) / 2;
  const z = sigma > 0 ? (centred - Math.sign(centred) * 0.5) / sigma : 0;
  const p = sigma > 0 ? Math.min(1, 2 * jStat.normal.cdf(-Math.abs(z), 0, 1)) : 1;

  const differences = canary.flatMap((c) => baseline.map((b) => c - b)).sort((a, b) => a - b);
  const count = differences.length;
  const quantile = jStat.normal.inv(1 - (1 - confidence) / 2, 0, 1);
  const k = Math.max(1, Math.floor((m * n) / 2 - quantile * Math.sqrt((m * n * (total + 1)) / 12)));
  return {
    u,
    z,
    p,
    shift: {
      estimate: median(differences),
      lower: differences[k - 1] as number,
      upper: differences[count - k] as number,
    },
  };
}
