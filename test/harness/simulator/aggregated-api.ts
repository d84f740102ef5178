// The TrafficMetrics API over HTTPS, as an extension apiserver the aggregator proxies to. The
// aggregator does not check the certificate (the APIService says insecureSkipTLSVerify), so a
// throwaway self-signed one serves; nor is the caller authenticated here: kube-apiserver has
// already authorised the request before proxying it.

import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Logger } from "../../../src/observability/logger.ts";
import type { WindowSummary } from "./request-log.ts";
import {
  API_GROUP,
  API_GROUP_LIST,
  API_RESOURCE_LIST,
  GROUP_VERSION,
  status,
  trafficMetrics,
  trafficMetricsList,
  windowOf,
} from "./traffic-metrics.ts";

/** A self-signed certificate for `ip`, from the openssl command line (Node cannot issue one). */
export function selfSignedCertificate(ip: string): { cert: string; key: string } {
  const dir = mkdtempSync(join(tmpdir(), "fledge-sim-tls-"));
  try {
    execFileSync(
      "openssl",
      [
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-days",
        "7",
        "-subj",
        "/CN=smi-metrics",
        "-addext",
        `subjectAltName=IP:${ip}`,
        "-keyout",
        join(dir, "key.pem"),
        "-out",
        join(dir, "cert.pem"),
      ],
      { stdio: ["ignore", "ignore", "pipe"] },
    );
    return {
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
      key: readFileSync(join(dir, "key.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export interface MetricsSource {
  /** What the Deployment served in the window ending now. */
  summary(namespace: string, deployment: string, now: number, windowMs: number): WindowSummary;
  /** The Deployments a list in this namespace reports. */
  deployments(namespace: string): string[];
}

const ITEM = new RegExp(`^/apis/${GROUP_VERSION}/namespaces/([^/]+)/deployments(?:/([^/]+))?$`);

function answer(
  path: string,
  query: URLSearchParams,
  source: MetricsSource,
): { code: number; body: unknown } {
  switch (path) {
    case "/healthz":
    case "/readyz":
    case "/livez":
      return { code: 200, body: "ok" };
    case "/apis":
      return { code: 200, body: API_GROUP_LIST };
    case `/apis/${API_GROUP.name}`:
      return { code: 200, body: API_GROUP };
    case `/apis/${GROUP_VERSION}`:
      return { code: 200, body: API_RESOURCE_LIST };
  }
  const item = ITEM.exec(path);
  if (!item) return { code: 404, body: status(404, "NotFound", `${path} is not served here`) };
  const namespace = decodeURIComponent(item[1] ?? "");
  const windowMs = windowOf(query);
  const now = Date.now();
  const metricsOf = (name: string) =>
    trafficMetrics(
      namespace,
      name,
      source.summary(namespace, name, now, windowMs),
      new Date(now),
      windowMs,
    );
  if (item[2] !== undefined) return { code: 200, body: metricsOf(decodeURIComponent(item[2])) };
  return {
    code: 200,
    body: trafficMetricsList(namespace, source.deployments(namespace).map(metricsOf)),
  };
}

export interface AggregatedApi {
  port: number;
  close(): Promise<void>;
}

type Answer = { code: number; body: unknown };

/**
 * An extension apiserver's HTTPS front: GETs go to `answer`, other methods are refused. Listens
 * on `host` (a Service's loopback ClusterIP) on a free port.
 */
export async function serveAggregatedApi(
  host: string,
  tls: { cert: string; key: string },
  answer: (path: string, query: URLSearchParams) => Answer | Promise<Answer>,
  logger: Logger,
): Promise<AggregatedApi> {
  const server: Server = createServer(tls, async (req, res) => {
    const url = new URL(req.url ?? "/", "https://aggregated");
    // The aggregator strips no slash; smi-metrics' router drops a trailing one too.
    const path = url.pathname.replace(/\/+$/, "") || "/";
    const { code, body } =
      req.method === "GET"
        ? await Promise.resolve()
            .then(() => answer(path, url.searchParams))
            .catch((e: Error) => ({
              code: 500,
              body: status(500, "InternalError", e.message),
            }))
        : { code: 405, body: status(405, "MethodNotAllowed", `${req.method} is not supported`) };
    logger.debug({ path, query: url.search, code }, "aggregated API request");
    const text = typeof body === "string" ? body : JSON.stringify(body);
    res.writeHead(code, {
      "content-type": typeof body === "string" ? "text/plain" : "application/json",
    });
    res.end(text);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, resolve);
  });
  return {
    port: (server.address() as { port: number }).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

/** The TrafficMetrics API of `source`. */
export function serveTrafficMetrics(
  host: string,
  tls: { cert: string; key: string },
  source: MetricsSource,
  logger: Logger,
): Promise<AggregatedApi> {
  return serveAggregatedApi(host, tls, (path, query) => answer(path, query, source), logger);
}
