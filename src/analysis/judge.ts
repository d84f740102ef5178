import type { CheckResult } from "../machine/context.ts";
import type { Reading, ReadResult } from "./reading.ts";

export type Threshold = { min?: number | undefined; max?: number | undefined };

/** Short, stable numbers for messages: 87.5, 99.123, 1200 (never 99.12345678901). */
export function formatNumber(n: number): string {
  return String(Number(n.toFixed(3)));
}

/**
 * Turns one metric's reading into a check result. Too little traffic and no data are
 * inconclusive rather than passes, because a canary nobody called has proven nothing; only a
 * value outside its range is a failure. Readings that could not be taken never come here: the
 * caller reports them as errored with the provider's reason.
 */
export function judge(
  name: string,
  reading: Reading,
  threshold: Threshold,
  minRequestCount: number,
): CheckResult {
  const { value, requests } = reading;
  const base: CheckResult = { name, outcome: "inconclusive" };
  if (requests !== undefined) base.requests = requests;
  if (requests !== undefined && requests < minRequestCount) {
    // The value is kept for the status, though too few requests stand behind it to judge.
    return {
      ...base,
      ...(value !== undefined && Number.isFinite(value) ? { value } : {}),
      message: `${formatNumber(requests)} requests, fewer than minRequestCount ${minRequestCount}`,
    };
  }
  if (value === undefined || !Number.isFinite(value)) return { ...base, message: "no data" };
  if (threshold.min !== undefined && value < threshold.min) {
    return {
      ...base,
      outcome: "failed",
      value,
      message: `${formatNumber(value)} < min ${formatNumber(threshold.min)}`,
    };
  }
  if (threshold.max !== undefined && value > threshold.max) {
    return {
      ...base,
      outcome: "failed",
      value,
      message: `${formatNumber(value)} > max ${formatNumber(threshold.max)}`,
    };
  }
  return { ...base, outcome: "passed", value };
}

/** A provider's answer for one metric as its check result: a reading judged, or an error with the provider's reason. */
export function judgeRead(
  name: string,
  result: ReadResult,
  threshold: Threshold,
  minRequestCount: number,
): CheckResult {
  return result.ok
    ? judge(name, result.reading, threshold, minRequestCount)
    : { name, outcome: "errored", message: result.reason };
}
