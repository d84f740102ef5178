// The traffic simulator, wired: cluster caches, the request generator, /metrics in the meshes'
// shapes on loopback, and the TrafficMetrics aggregated API. main.ts runs it alone; the e2e tier
// and the demo call startSimulator() in their own process.

import { createServer, type Server } from "node:http";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../../src/kube/client.ts";
import { createLogger, type Logger } from "../../../src/observability/logger.ts";
import { selfSignedCertificate, serveTrafficMetrics } from "./aggregated-api.ts";
import { watchCluster } from "./cluster-watch.ts";
import { createMeshMetrics } from "./mesh-metrics.ts";
import { seededRandom } from "./model.ts";
import {
  awaitAvailable,
  registerApiService,
  TRAFFIC_METRICS,
  unregisterApiService,
} from "./registration.ts";
import { startTraffic } from "./traffic.ts";

/** The simulator's log lines say they are its own, apart from the controller's. */
export const SIMULATOR = "fledge-simulator";

export interface SimulatorOptions {
  /**
   * Needs to watch the namespaces' objects, to write HTTPRoutes' status and, for TrafficMetrics,
   * to register an APIService.
   */
  kubeConfig: KubeConfig;
  /** Only this namespace's TrafficSplits and HTTPRoutes get traffic; default: every namespace. */
  namespace?: string;
  /** Requests per second to each apex of a TrafficSplit and Service parent of an HTTPRoute; default 20. */
  rps?: number;
  /** Share of requests made to satisfy a route's match (HTTPRoute, HTTPRouteGroup); default 0.3. */
  matchShare?: number;
  /** Port of /metrics on 127.0.0.1; default: a free one. */
  metricsPort?: number;
  /** Seed of the random choices (routing, failures, latencies); default: the clock. */
  seed?: number | string;
  /** Serve TrafficMetrics through the apiserver; default true. */
  trafficMetrics?: boolean;
  /** Its certificate and key (PEM); default: a fresh self-signed one from the openssl command. */
  tls?: { cert: string; key: string };
  logger?: Logger;
}

export interface Simulator {
  /** http://127.0.0.1:PORT/metrics, for a Prometheus scrape config. */
  metricsUrl: string;
  stop(): Promise<void>;
}

export type SimulatorResult = { ok: true; simulator: Simulator } | { ok: false; reason: string };

const NO_SUMMARY = {
  successCount: 0,
  failureCount: 0,
  p50Ms: undefined,
  p90Ms: undefined,
  p99Ms: undefined,
};

/**
 * `POST /load/NAMESPACE/SERVICE?seconds=N` (default 60): what a load-testing webhook does, the
 * Service called for N seconds more at the clients' rate.
 */
function loadRequest(method: string | undefined, url: string | undefined) {
  const parsed = new URL(url ?? "/", "http://simulator");
  const [, verb, namespace, service] = parsed.pathname.split("/");
  if (method !== "POST" || verb !== "load" || !namespace || !service) return undefined;
  const seconds = Number(parsed.searchParams.get("seconds") ?? 60);
  return { namespace, service, seconds: Number.isFinite(seconds) ? seconds : 60 };
}

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve((server.address() as { port: number }).port));
  });
}

export async function startSimulator(options: SimulatorOptions): Promise<SimulatorResult> {
  const logger = options.logger ?? createLogger(undefined, SIMULATOR);
  const watched = await watchCluster(options.kubeConfig, options.namespace, logger);
  if (!watched.ok) return watched;
  const { watch } = watched;
  const metrics = createMeshMetrics();
  const rps = options.rps ?? 20;
  const traffic = startTraffic({
    watch,
    metrics,
    rps,
    matchShare: options.matchShare ?? 0.3,
    random: seededRandom(options.seed ?? Date.now()),
    logger,
  });
  const stops: (() => Promise<void> | void)[] = [() => traffic.stop(), () => watch.stop()];
  let stopping: Promise<void> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      for (const step of [...stops].reverse()) await step();
    })();
    return stopping;
  };

  const metricsServer = createServer(async (req, res) => {
    const load = loadRequest(req.method, req.url);
    if (load) {
      traffic.load(load.namespace, load.service, Date.now() + load.seconds * 1000);
      logger.info(load, "load test started");
      req.resume();
      res.writeHead(200, { "content-type": "text/plain" }).end(`loading ${load.service}\n`);
      return;
    }
    if (req.url !== "/metrics") {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { "content-type": metrics.registry.contentType });
    res.end(await metrics.registry.metrics());
  });
  try {
    const port = await listen(metricsServer, options.metricsPort ?? 0);
    stops.push(() => new Promise<void>((resolve) => metricsServer.close(() => resolve())));
    const metricsUrl = `http://127.0.0.1:${port}/metrics`;

    if (options.trafficMetrics ?? true) {
      const api = await serveTrafficMetrics(
        TRAFFIC_METRICS.clusterIP,
        options.tls ?? selfSignedCertificate(TRAFFIC_METRICS.clusterIP),
        {
          summary: (ns, name, now, windowMs) =>
            traffic.log(ns, name)?.summarise(now, windowMs) ?? NO_SUMMARY,
          deployments: (ns) =>
            watch
              .snapshot()
              .deployments(ns)
              .map((d) => d.name)
              .sort(),
        },
        logger,
      );
      stops.push(() => api.close());
      const client = new KubeClient(options.kubeConfig);
      const registered = await registerApiService(client, TRAFFIC_METRICS, api.port);
      if (!registered.ok) {
        await stop();
        return registered;
      }
      // Bounded: the apiserver may already be gone when a test run ends.
      stops.push(() =>
        Promise.race([
          unregisterApiService(client, TRAFFIC_METRICS),
          new Promise<void>((r) => setTimeout(r, 3000).unref()),
        ]),
      );
      const available = await awaitAvailable(client, TRAFFIC_METRICS, 30_000);
      if (!available.ok) {
        await stop();
        return available;
      }
      logger.info({ port: api.port }, "TrafficMetrics API available through the apiserver");
    }
    logger.info({ metricsUrl, rps, namespace: options.namespace ?? "(all)" }, "simulator started");
    return { ok: true, simulator: { metricsUrl, stop } };
  } catch (error) {
    await stop();
    return { ok: false, reason: `simulator: ${(error as Error).message}` };
  }
}
