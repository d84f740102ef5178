/**
 * How far the canary's request count may stray from its weight before the mesh is doubted. Each
 * request reaches the canary with probability p, the weight, so over n requests the canary's
 * count is binomial: mean n·p, standard deviation sqrt(n·p·(1−p)).
 *
 * Z = 4 because a check runs every interval of every rollout for as long as it lasts: at 4σ the
 * two-sided tail is about 6e-5, one false hold in some 16 000 checks, where 3σ (1 in 370) would
 * hold some rollout of a busy cluster every day. A mesh that ignores the split is still caught at
 * once: at 40% a canary with none of 50 requests lies 5.8σ below its 20, and beyond the slack.
 */
const Z = 4;

/**
 * What the binomial does not see. At weight 0 or 100 its deviation is 0, and where n·p is small
 * its normal approximation is poor: a few requests absorb both. The counts' windows have blurred
 * edges (a mesh takes up a new route over a moment; Prometheus extrapolates counters to the
 * window's ends): a small share of the window absorbs that.
 */
const SLACK_REQUESTS = 3;
const SLACK_SHARE = 0.02;

export type ShareVerdict = {
  /** The requests canary and primary served together in the window. */
  requests: number;
  /** The canary's share of them in percent; undefined when there were none. */
  observedPercent: number | undefined;
  /** The canary counts that agree with the weight, inclusive. */
  low: number;
  high: number;
  /** False only when the canary's count lies outside [low, high]; no requests never disagree. */
  agrees: boolean;
};

/** Whether the canary's and the primary's request counts over a window agree with the weight. */
export function judgeShare(canary: number, primary: number, weightPercent: number): ShareVerdict {
  const n = canary + primary;
  const p = weightPercent / 100;
  const spread = Z * Math.sqrt(n * p * (1 - p)) + SLACK_REQUESTS + SLACK_SHARE * n;
  const low = Math.max(0, n * p - spread);
  const high = Math.min(n, n * p + spread);
  return {
    requests: n,
    observedPercent: n > 0 ? (canary / n) * 100 : undefined,
    low,
    high,
    agrees: n === 0 || (canary >= low && canary <= high),
  };
}
