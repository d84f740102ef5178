// The client side: at a steady rate per Service the clients call (the apexes of TrafficSplits and
// the Service parents of HTTPRoutes), requests routed through the cluster's HTTPRoutes and
// TrafficSplits and answered the way the serving Deployment's annotations say. A mirrored copy
// is served and counted like any request, but its answer goes nowhere.

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
import { type Destination, type RequestKind, requestKinds, route } from "./routing.ts";

const PLAIN: RequestKind = { label: "plain", request: PLAIN_REQUEST };
const TICK_MS = 100;
// A stalled event loop (a debugger, a suspended laptop) is not made up for with a burst.
const MAX_CATCH_UP_S = 2;
/** Long enough for any analysis window a test or the demo uses. */
const LOG_RETENTION_MS = 10 * 60_000;

export interface TrafficOptions {
  watch: ClusterWatch;
  metrics: MeshMetrics;
  /** Requests per second sent to each Service the clients call (ClusterWatch.apexes()). */
  rps: number;
  /** The share of requests made to satisfy a route's match (HTTPRoute rule or HTTPRouteGroup). */
  matchShare: number;
  random: Random;
  logger: Logger;
}

export interface Traffic {
  /** Every request each Deployment served, by "namespace/name", for TrafficMetrics. */
  log(namespace: string, deployment: string): RequestLog | undefined;
  /**
   * A load test: the Service is called at the clients' rate until `untilMs` as well, as a
   * load-testing webhook calls a blue/green preview that no route sends traffic to.
   */
  load(namespace: string, service: string, untilMs: number): void;
  stop(): void;
}

export function startTraffic(options: TrafficOptions): Traffic {
  const { watch, metrics, rps, matchShare, random, logger } = options;
  const logs = new Map<string, RequestLog>();
  const owed = new Map<string, number>();
  const loads = new Map<string, { namespace: string; apex: string; untilMs: number }>();
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

  const send = (
    to: Destination,
    from: { namespace: string; apex: string; kind: RequestKind; time: number },
    mirrored: boolean,
  ) => {
    const { namespace, apex, kind, time } = from;
    if (to.kind === "unroutable") {
      metrics.unroutable({ namespace, ...to, kind: kind.label, mirrored });
      return;
    }
    for (const problem of to.behaviour.problems)
      warnOnce({ namespace, deployment: to.deployment }, problem);
    const ok = random() < to.behaviour.successRate;
    const latencyMs = sampleLatencyMs(to.behaviour, random);
    metrics.record({
      namespace,
      deployment: to.deployment,
      app: to.app,
      service: to.service,
      apex,
      port: to.port,
      status: ok ? SUCCESS_STATUS : FAILURE_STATUS,
      latencyMs,
      split: to.split,
      route: to.route,
      kind: kind.label,
      mirrored,
    });
    served(`${namespace}/${to.deployment}`, time, latencyMs, ok);
  };

  const tick = () => {
    const now = Date.now();
    const elapsedS = Math.min((now - last) / 1000, MAX_CATCH_UP_S);
    last = now;
    const cluster = watch.snapshot();
    for (const [key, { untilMs }] of loads) if (untilMs <= now) loads.delete(key);
    const called = new Map(watch.apexes().map((a) => [`${a.namespace}/${a.apex}`, a]));
    for (const [key, target] of loads) called.set(key, target);
    for (const { namespace, apex } of called.values()) {
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
        // The copies first: a mirror is sent as the request arrives, not after its answer.
        for (const mirror of routed.mirrors) send(mirror, { namespace, apex, kind, time }, true);
        send(routed, { namespace, apex, kind, time }, false);
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
    load: (namespace, service, untilMs) => {
      const key = `${namespace}/${service}`;
      const until = Math.max(untilMs, loads.get(key)?.untilMs ?? 0);
      loads.set(key, { namespace, apex: service, untilMs: until });
    },
    stop: () => clearInterval(timer),
  };
}
