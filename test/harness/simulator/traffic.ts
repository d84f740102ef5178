// The client side: at a steady rate per apex Service, requests routed through the cluster's
// TrafficSplits and answered the way the serving Deployment's annotations say.

import type { Logger } from "../../../src/observability/logger.ts";
import type { ClusterWatch } from "./cluster-watch.ts";
import type { MeshMetrics } from "./mesh-metrics.ts";
import {
  FAILURE_STATUS,
  PLAIN_REQUEST,
  type Random,
  SUCCESS_STATUS,
  sampleLatencyMs,
} from "./model.ts";
import { RequestLog } from "./request-log.ts";
import { type RequestKind, requestKinds, route } from "./routing.ts";

const PLAIN: RequestKind = { label: "plain", request: PLAIN_REQUEST };
const TICK_MS = 100;
// A stalled event loop (a debugger, a suspended laptop) is not made up for with a burst.
const MAX_CATCH_UP_S = 2;
/** Long enough for any analysis window a test or the demo uses. */
const LOG_RETENTION_MS = 10 * 60_000;

export interface TrafficOptions {
  watch: ClusterWatch;
  metrics: MeshMetrics;
  /** Requests per second sent to each apex Service that has a TrafficSplit. */
  rps: number;
  /** The share of requests made to satisfy an HTTPRouteGroup match, where a split has matches. */
  matchShare: number;
  random: Random;
  logger: Logger;
}

export interface Traffic {
  /** Every request each Deployment served, by "namespace/name", for TrafficMetrics. */
  log(namespace: string, deployment: string): RequestLog | undefined;
  stop(): void;
}

export function startTraffic(options: TrafficOptions): Traffic {
  const { watch, metrics, rps, matchShare, random, logger } = options;
  const logs = new Map<string, RequestLog>();
  const owed = new Map<string, number>();
  const warned = new Set<string>();
  let last = Date.now();

  const warnOnce = (context: Record<string, string>, problem: string) => {
    if (warned.has(problem)) return;
    warned.add(problem);
    logger.warn(context, problem);
  };

  const served = (key: string, time: number, latencyMs: number, ok: boolean) => {
    let log = logs.get(key);
    if (!log) {
      log = new RequestLog(LOG_RETENTION_MS);
      logs.set(key, log);
    }
    log.add(time, latencyMs, ok);
  };

  const tick = () => {
    const now = Date.now();
    const elapsedS = Math.min((now - last) / 1000, MAX_CATCH_UP_S);
    last = now;
    const cluster = watch.snapshot();
    for (const { namespace, apex } of watch.apexes()) {
      const key = `${namespace}/${apex}`;
      const due = (owed.get(key) ?? 0) + rps * elapsedS;
      const count = Math.floor(due);
      owed.set(key, due - count);
      if (count === 0) continue;
      const { kinds, problems } = requestKinds(cluster, namespace, apex);
      for (const problem of problems) warnOnce({ namespace, apex }, problem);
      for (let i = 0; i < count; i++) {
        // Spread over the tick, in order, so that window summaries see a steady rate.
        const time = now - elapsedS * 1000 * (1 - (i + 1) / count);
        const kind =
          kinds.length > 0 && random() < matchShare
            ? (kinds[Math.floor(random() * kinds.length)] ?? PLAIN)
            : PLAIN;
        const routed = route(cluster, namespace, apex, kind.request, random);
        if (routed.kind === "unroutable") {
          metrics.unroutable(namespace, routed.split, routed.service, kind.label);
          continue;
        }
        for (const problem of routed.behaviour.problems)
          warnOnce({ namespace, deployment: routed.deployment }, problem);
        const ok = random() < routed.behaviour.successRate;
        const latencyMs = sampleLatencyMs(routed.behaviour, random);
        metrics.record({
          namespace,
          deployment: routed.deployment,
          app: routed.app,
          service: routed.service,
          apex,
          port: routed.port,
          status: ok ? SUCCESS_STATUS : FAILURE_STATUS,
          latencyMs,
          split: routed.split,
          kind: kind.label,
        });
        served(`${namespace}/${routed.deployment}`, time, latencyMs, ok);
      }
    }
  };

  const timer = setInterval(() => {
    try {
      tick();
    } catch (error) {
      logger.error({ err: error }, "simulator tick failed");
    }
  }, TICK_MS);
  timer.unref();
  return {
    log: (namespace, deployment) => logs.get(`${namespace}/${deployment}`),
    stop: () => clearInterval(timer),
  };
}
