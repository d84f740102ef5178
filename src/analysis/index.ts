import type { Metric } from "../api/rollout.ts";
import type { KubeClient } from "../kube/client.ts";
import type { CheckResult } from "../machine/context.ts";
import type { Logger } from "../observability/logger.ts";
import type { AnalysisSubject, Analyst } from "./analyst.ts";
import { compareCheck } from "./compare/check.ts";
import { judgeRead } from "./judge.ts";
import { PrometheusProvider } from "./prometheus.ts";
import type { ReadResult } from "./reading.ts";
import { type SecretReader, secretReader } from "./secrets.ts";
import { TrafficMetricsProvider } from "./traffic-metrics.ts";
import { gate, notifyWebhooks, webhookChecks } from "./webhooks.ts";
import { type RequestCounter, weightCheck } from "./weight/verify.ts";

export type AnalystOptions = {
  client: KubeClient;
  logger: Logger;
  /** --prometheus-address: where Prometheus metrics go when a Rollout names no address. */
  prometheusAddress?: string | undefined;
  /** --prometheus-scrape-interval, for a Prometheus that does not serve its configuration. */
  scrapeIntervalMs?: number | undefined;
  readSecret?: SecretReader;
};

type Provider = { read(subject: AnalysisSubject, metrics: Metric[]): Promise<ReadResult[]> };

/** The analyst the controller runs with: Prometheus, SMI TrafficMetrics and webhooks. */
export function createAnalyst(options: AnalystOptions): Analyst {
  const prometheus = new PrometheusProvider({
    defaultAddress: options.prometheusAddress,
    scrapeIntervalMs: options.scrapeIntervalMs,
    readSecret: options.readSecret ?? secretReader(options.client),
  });
  const smi = new TrafficMetricsProvider(options.client);
  const providers: Record<Metric["provider"]["type"], Provider> = { prometheus, smi };
  const countRequests: RequestCounter = (subject, source, deployments) =>
    source.kind === "smi"
      ? smi.requestCounts(subject, deployments)
      : prometheus.requestCounts(subject, source.metric, deployments);
  const byProvider = (metrics: Metric[], type: Metric["provider"]["type"]) =>
    metrics.filter((m) => m.provider.type === type);
  type Thresholded = Metric & { thresholdRange: NonNullable<Metric["thresholdRange"]> };

  return {
    async check(subject) {
      const { minRequestCount } = subject.spec.analysis;
      // A metric has a threshold or is compared with the primary; the compared are judged together.
      const metrics = subject.spec.analysis.metrics.filter(
        (m): m is Thresholded => m.thresholdRange !== undefined,
      );
      const readAll = async (type: Metric["provider"]["type"]) => {
        const mine = byProvider(metrics, type);
        const results = await providers[type].read(subject, mine);
        return mine.map((m, i) => [m, results[i]] as const);
      };
      const [hooks, score, weight, ...pairs] = await Promise.all([
        webhookChecks(subject),
        compareCheck(prometheus, subject, subject.spec.analysis.metrics),
        weightCheck(subject, countRequests),
        readAll("prometheus"),
        readAll("smi"),
      ]);
      const readings = new Map<Metric, ReadResult | undefined>(pairs.flat());
      const judged = metrics.map((m): CheckResult => {
        const r = readings.get(m);
        // Every provider answers for each metric it is given; a missing reading is a bug.
        if (!r) throw new Error(`no reading for metric ${m.name}`);
        return judgeRead(m.name, r, m.thresholdRange, minRequestCount);
      });
      return [...judged, ...(score ? [score] : []), ...(weight ? [weight] : []), ...hooks];
    },
    gate: (subject, name) => gate(subject, name),
    async readiness(subject) {
      const { metrics } = subject.spec.analysis;
      if (metrics.length === 0) return undefined;
      const onPrometheus = byProvider(metrics, "prometheus");
      if (onPrometheus.length === 0) {
        return {
          status: "True",
          reason: "Ready",
          message: "metrics are read from SMI TrafficMetrics",
        };
      }
      return prometheus.readiness(subject, onPrometheus);
    },
    notify: (subject, notification) => notifyWebhooks(subject, notification, options.logger),
  };
}
