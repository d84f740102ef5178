import { durationMs } from "../api/common.ts";
import { parseAs } from "../api/parse.ts";
import { parseQuantity } from "../api/quantity.ts";
import type { Metric } from "../api/rollout.ts";
import { METRICS_GROUP, TrafficMetrics } from "../api/smi.ts";
import type { KubeClient, KubeError } from "../kube/client.ts";
import type { AnalysisSubject } from "./analyst.ts";
import { promDuration } from "./promql.ts";
import { type ReadResult, type RequestCounts, read, unreadable } from "./reading.ts";

const API = `${METRICS_GROUP}/v1alpha1`;

const LATENCY: Record<string, string> = {
  "request-duration-p50-ms": "p50_response_latency",
  "request-duration-p90-ms": "p90_response_latency",
  "request-duration-p99-ms": "p99_response_latency",
};

/** The spec writes latencies in seconds ("10m" is 10 ms); smi-metrics writes milliseconds with unit "ms". */
const SECONDS_UNITS = new Set(["s", "seconds", "second"]);

/** Why the apiserver gave no TrafficMetrics, in terms of what a person can fix. */
export function trafficMetricsError(error: KubeError): string {
  switch (error.status) {
    case 404:
      return `the SMI TrafficMetrics API (${API}) is not served by this cluster: install smi-metrics or a mesh extension that serves it (404: ${error.message})`;
    case 503:
      return `the SMI TrafficMetrics API (${API}) is registered but unavailable (503: ${error.message}): its APIService's backend is down or not ready`;
    case 403:
      return `the controller may not read TrafficMetrics (403: ${error.message})`;
    case 0:
      return `cannot reach the apiserver for TrafficMetrics: ${error.message}`;
    default:
      return `TrafficMetrics answered ${error.status} ${error.reason}: ${error.message}`;
  }
}

const entryOf = (tm: TrafficMetrics, name: string) => tm.metrics.find((m) => m.name === name);

function numberOf(tm: TrafficMetrics, name: string): number | undefined {
  const value = entryOf(tm, name)?.value;
  return value === undefined || value === null ? undefined : parseQuantity(value);
}

/** The requests a TrafficMetrics window counts: its successes and its failures. */
export function requestsOf(tm: TrafficMetrics): number | undefined {
  const success = numberOf(tm, "success_count");
  const failure = numberOf(tm, "failure_count");
  return success !== undefined && failure !== undefined ? success + failure : undefined;
}

/**
 * The readings one TrafficMetrics object gives for the rollout's metrics: success rate as
 * success / (success + failure) in percent, latencies in milliseconds, each resting on the
 * window's request count. Missing values are "no data".
 */
export function readingsOf(tm: TrafficMetrics, metrics: Metric[]): ReadResult[] {
  const number = (name: string) => numberOf(tm, name);
  const success = number("success_count");
  const requests = requestsOf(tm);
  return metrics.map((m) => {
    if (m.name === "request-success-rate") {
      const rate = requests && success !== undefined ? (success / requests) * 100 : undefined;
      return read(rate, requests);
    }
    const latency = LATENCY[m.name];
    if (!latency) return unreadable(`TrafficMetrics has no metric ${m.name}`);
    const value = number(latency);
    const unit = entryOf(tm, latency)?.unit ?? "ms";
    return read(
      value === undefined ? undefined : SECONDS_UNITS.has(unit) ? value * 1000 : value,
      requests,
    );
  });
}

/** SMI TrafficMetrics for the canary Deployment, read through the apiserver's aggregation layer. */
export class TrafficMetricsProvider {
  private readonly client: KubeClient;

  constructor(client: KubeClient) {
    this.client = client;
  }

  async read(subject: AnalysisSubject, metrics: Metric[]): Promise<ReadResult[]> {
    if (metrics.length === 0) return [];
    const got = await this.fetch(subject, subject.target);
    if (!got.ok) return metrics.map(() => unreadable(got.reason));
    return readingsOf(got.value, metrics);
  }

  /** How many requests each Deployment served over the last analysis interval. */
  async requestCounts(
    subject: AnalysisSubject,
    deployments: readonly string[],
  ): Promise<RequestCounts> {
    const got = await Promise.all(deployments.map((d) => this.fetch(subject, d)));
    const counts: number[] = [];
    for (const [i, tm] of got.entries()) {
      if (!tm.ok) return tm;
      const requests = requestsOf(tm.value);
      if (requests === undefined)
        return {
          ok: false,
          reason: `TrafficMetrics of ${deployments[i]} count no successes and failures`,
        };
      counts.push(requests);
    }
    return { ok: true, counts };
  }

  private async fetch(
    subject: AnalysisSubject,
    deployment: string,
  ): Promise<{ ok: true; value: TrafficMetrics } | { ok: false; reason: string }> {
    const got = await this.client.request<unknown>(
      "GET",
      `/apis/${API}/namespaces/${subject.namespace}/deployments/${deployment}`,
      undefined,
      undefined,
      // smi-metrics reads the window from `t`, a Go duration.
      { t: promDuration(durationMs(subject.spec.analysis.interval)) },
    );
    if (!got.ok) return { ok: false, reason: trafficMetricsError(got.error) };
    const parsed = parseAs(TrafficMetrics, got.value, "TrafficMetrics");
    return parsed.ok ? parsed : { ok: false, reason: `unexpected answer: ${parsed.error}` };
  }
}
