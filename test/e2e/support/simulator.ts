// Reading what the simulator did: its own request counter from /metrics, and PromQL answers
// from the tier's Prometheus.

import { inject } from "vitest";

export type Sample = { labels: Record<string, string>; value: number };

/**
 * The samples of one metric in a simulator's /metrics whose labels include `where`; by default
 * the tier's simulator, or another's (one a test started beside a control plane of its own).
 */
export async function simulatorSamples(
  metric: string,
  where: Record<string, string>,
  metricsUrl = inject("simulatorMetricsUrl"),
): Promise<Sample[]> {
  const text = await (await fetch(metricsUrl)).text();
  const samples: Sample[] = [];
  for (const line of text.split("\n")) {
    const m = /^(\w+)\{(.*)\} (\S+)$/.exec(line);
    if (!m || m[1] !== metric) continue;
    const labels = Object.fromEntries(
      [...(m[2] ?? "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((l) => [l[1], l[2]]),
    );
    if (Object.entries(where).every(([k, v]) => labels[k] === v)) {
      samples.push({ labels, value: Number(m[3]) });
    }
  }
  return samples;
}

/** Requests the simulator sent in a namespace, summed by the values of some labels ("a|b"). */
export function requestsBy(namespace: string, ...labels: string[]): Promise<Map<string, number>> {
  return requestsAt(inject("simulatorMetricsUrl"), namespace, labels);
}

/** requestsBy, from the simulator whose /metrics is at `metricsUrl`. */
export async function requestsAt(
  metricsUrl: string,
  namespace: string,
  labels: string[],
): Promise<Map<string, number>> {
  const sums = new Map<string, number>();
  const samples = await simulatorSamples("fledge_sim_requests_total", { namespace }, metricsUrl);
  for (const s of samples) {
    const key = labels.map((label) => s.labels[label] ?? "").join("|");
    sums.set(key, (sums.get(key) ?? 0) + s.value);
  }
  return sums;
}

type PromAnswer<R> = { status: string; error?: string; data?: { result: R[] } };

/** An instant query's result, now or at `time` (ms since the epoch). */
async function promQuery<R>(query: string, time?: number): Promise<R[]> {
  const url = new URL("/api/v1/query", inject("prometheusUrl"));
  url.searchParams.set("query", query);
  if (time !== undefined) url.searchParams.set("time", String(time / 1000));
  const body = (await (await fetch(url)).json()) as PromAnswer<R>;
  if (body.status !== "success") throw new Error(`prometheus: ${body.error} (query ${query})`);
  return body.data?.result ?? [];
}

/** An instant query's first value, now or at `time`; undefined when empty or NaN ("no data"). */
export async function promValue(query: string, time?: number): Promise<number | undefined> {
  const [first] = await promQuery<{ value: [number, string] }>(query, time);
  const value = Number(first?.value[1]);
  return Number.isFinite(value) ? value : undefined;
}

/** The samples Prometheus holds of each series a selector matches, over the last `range`. */
export async function promSamples(
  selector: string,
  range: string,
): Promise<{ at: number; value: number }[][]> {
  const series = await promQuery<{ values: [number, string][] }>(`${selector}[${range}]`);
  return series.map((s) =>
    s.values.map(([at, value]) => ({ at: at * 1000, value: Number(value) })),
  );
}
