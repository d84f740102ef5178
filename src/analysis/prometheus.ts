import axios, { type AxiosInstance } from "axios";
import { parse as parseYaml } from "yaml";
import { z } from "zod";
import { durationMs } from "../api/common.ts";
import { BUILTIN_METRICS, type Metric } from "../api/rollout.ts";
import type { AnalysisSubject, Readiness } from "./analyst.ts";
import { excerpt, formatMs, httpsAgent, noAnswer } from "./http.ts";
import {
  type BuiltinMetric,
  builtinQuery,
  parsePromDuration,
  promDuration,
  type QueryVars,
  renderQuery,
  requestsQuery,
} from "./promql.ts";
import { finite, type ReadResult, type RequestCounts, read, unreadable } from "./reading.ts";
import { readingOnce, type SecretReader } from "./secrets.ts";

/** Where one metric's queries go and with which credentials. */
export type PrometheusTarget = {
  address: string;
  authorization?: string | undefined;
  ca?: string | undefined;
  insecureSkipVerify?: boolean | undefined;
};

/** A query's one number (undefined: no data), or why there is none. */
export type Answer = { ok: true; value: number | undefined } | { ok: false; reason: string };

const Sample = z.tuple([z.number(), z.string()]);
const QueryData = z.discriminatedUnion("resultType", [
  z.object({
    resultType: z.literal("vector"),
    result: z.array(z.object({ metric: z.record(z.string(), z.string()), value: Sample })),
  }),
  z.object({ resultType: z.literal("scalar"), result: Sample }),
  z.object({ resultType: z.enum(["matrix", "string"]), result: z.unknown() }),
]);
const RangeData = z.object({
  resultType: z.literal("matrix"),
  result: z.array(z.object({ metric: z.record(z.string(), z.string()), values: z.array(Sample) })),
});
const ApiAnswer = z.object({
  status: z.enum(["success", "error"]),
  data: z.unknown().optional(),
  errorType: z.string().optional(),
  error: z.string().optional(),
});
const ConfigData = z.object({ yaml: z.string() });
const PromConfig = z.object({
  global: z.object({ scrape_interval: z.string().optional() }).nullish(),
  scrape_configs: z
    .array(z.object({ job_name: z.string(), scrape_interval: z.string().optional() }))
    .nullish(),
});

const originOf = (address: string) => {
  try {
    return new URL(address).origin;
  } catch {
    return address;
  }
};

/** Prometheus's HTTP API answer as a value, or why it is not one, naming the server. */
function apiAnswer(
  status: number,
  body: string,
  address: string,
): { ok: true; data: unknown } | { ok: false; reason: string } {
  const at = `Prometheus at ${originOf(address)}`;
  if (status === 401 || status === 403) {
    return { ok: false, reason: `${at} refused the credentials (${status}): ${excerpt(body)}` };
  }
  let json: unknown;
  try {
    json = JSON.parse(body);
  } catch {
    return {
      ok: false,
      reason: `${at} answered ${status} with something other than JSON: ${excerpt(body)}`,
    };
  }
  const parsed = ApiAnswer.safeParse(json);
  if (!parsed.success) {
    return { ok: false, reason: `${at} answered ${status} in an unknown shape: ${excerpt(body)}` };
  }
  const answer = parsed.data;
  if (answer.status === "error") {
    const why = `${answer.errorType ?? "error"}: ${answer.error ?? "no reason given"}`;
    return status === 400 || status === 422
      ? { ok: false, reason: `${at} rejected the query (${why})` }
      : { ok: false, reason: `${at} could not answer (${status} ${why})` };
  }
  if (status < 200 || status >= 300) {
    return { ok: false, reason: `${at} answered ${status}: ${excerpt(body)}` };
  }
  return { ok: true, data: answer.data };
}

/**
 * One number from an instant query: a vector of one series or a scalar. An empty vector and
 * NaN are "no data" (a rate over a window without samples, a ratio of zero requests).
 */
export function parseQueryAnswer(status: number, body: string, address: string): Answer {
  const answer = apiAnswer(status, body, address);
  if (!answer.ok) return answer;
  const data = QueryData.safeParse(answer.data);
  if (!data.success) {
    return { ok: false, reason: `unexpected query result from Prometheus: ${excerpt(body)}` };
  }
  const result = data.data;
  switch (result.resultType) {
    case "scalar":
      return { ok: true, value: finite(Number(result.result[1])) };
    case "vector": {
      const [first, ...rest] = result.result;
      if (!first) return { ok: true, value: undefined };
      if (rest.length > 0) {
        return {
          ok: false,
          reason: `the query returned ${result.result.length} series; it must return one (aggregate it, e.g. with sum)`,
        };
      }
      return { ok: true, value: finite(Number(first.value[1])) };
    }
    default:
      return {
        ok: false,
        reason: `the query returned a ${result.resultType}; it must return an instant vector or a scalar`,
      };
  }
}

/** A range query's samples, in time order, NaN ones left out; none when the matrix is empty. */
export function parseRangeAnswer(
  status: number,
  body: string,
  address: string,
): { ok: true; values: number[] } | { ok: false; reason: string } {
  const answer = apiAnswer(status, body, address);
  if (!answer.ok) return answer;
  const data = RangeData.safeParse(answer.data);
  if (!data.success)
    return { ok: false, reason: `the query must return one series over time: ${excerpt(body)}` };
  const [first, ...rest] = data.data.result;
  if (rest.length > 0)
    return {
      ok: false,
      reason: `the query returned ${data.data.result.length} series; it must return one (aggregate it, e.g. with sum)`,
    };
  const values = (first?.values ?? []).flatMap(([, v]) => {
    const value = finite(Number(v));
    return value === undefined ? [] : [value];
  });
  return { ok: true, values };
}

/** The scrape interval and where it was read (a person checks the latter), or why it is unknown. */
type Scrape = { ms: number; source: string } | { reason: string };

/** The longest scrape interval in a Prometheus configuration, and the job it belongs to. */
export function longestScrapeInterval(configYaml: string): Scrape {
  let config: z.infer<typeof PromConfig>;
  try {
    const parsed = PromConfig.safeParse(parseYaml(configYaml));
    if (!parsed.success) return { reason: "its configuration has an unexpected shape" };
    config = parsed.data;
  } catch (e) {
    return { reason: `its configuration is not YAML: ${(e as Error).message}` };
  }
  const globalText = config.global?.scrape_interval ?? "1m";
  const globalMs = parsePromDuration(globalText);
  if (globalMs === undefined)
    return { reason: `global scrape_interval ${globalText} is unreadable` };
  let longest = { ms: globalMs, source: "Prometheus's global scrape_interval" };
  for (const job of config.scrape_configs ?? []) {
    const ms = job.scrape_interval ? parsePromDuration(job.scrape_interval) : globalMs;
    if (ms !== undefined && ms > longest.ms) {
      longest = { ms, source: `Prometheus job ${job.job_name}` };
    }
  }
  return longest;
}

const isBuiltin = (name: string): name is BuiltinMetric =>
  (BUILTIN_METRICS as readonly string[]).includes(name);

type Settings = NonNullable<Metric["provider"]["prometheus"]>;
type Where = { address: string | undefined; settings: Settings | undefined };

const NO_ADDRESS =
  "no Prometheus address: set analysis.prometheus.address or start the controller with --prometheus-address";

export type PrometheusOptions = {
  /** The controller's default (--prometheus-address). */
  defaultAddress?: string | undefined;
  /** Overrides what Prometheus's configuration says (--prometheus-scrape-interval). */
  scrapeIntervalMs?: number | undefined;
  readSecret: SecretReader;
  now?: () => number;
};

/** Without a scrape interval to go by, the spacing of a compared metric's samples. */
const DEFAULT_STEP_MS = 30_000;

/** The two sides of a compared metric, each the samples over the check's window. */
export type Sides =
  | { ok: true; canary: number[]; baseline: number[] }
  | { ok: false; reason: string };

const SCRAPE_CACHE_MS = 10 * 60_000;
const SCRAPE_RETRY_MS = 30_000;
const CONFIG_TIMEOUT_MS = 5_000;

/** A check must not outlive its interval, nor give up on a busy Prometheus too soon. */
const timeoutFor = (intervalMs: number) => Math.min(10_000, Math.max(1_000, intervalMs));

const varsFor = (subject: AnalysisSubject, deployment: string, windowMs: number): QueryVars => ({
  namespace: subject.namespace,
  target: deployment,
  canary: subject.canaryService,
  interval: promDuration(windowMs),
});

/**
 * A metric's queries: the user's template filled, or the mesh's built-in one with the query
 * counting the requests its value rests on.
 */
function queryFor(
  metric: Metric,
  vars: QueryVars,
): { ok: true; value: string; requests?: string } | { ok: false; reason: string } {
  if (metric.provider.query) {
    const rendered = renderQuery(metric.provider.query, vars);
    return rendered.ok ? { ok: true, value: rendered.query } : rendered;
  }
  const { mesh } = metric.provider;
  if (!mesh || !isBuiltin(metric.name)) return { ok: false, reason: meshMissing(metric) };
  return { ok: true, ...builtinQuery(mesh, metric.name, vars) };
}

/**
 * The Prometheus provider: built-in per-mesh queries and users' own, over Prometheus's HTTP API.
 * One HTTP client per address and TLS setting is shared by every rollout using it.
 */
export class PrometheusProvider {
  private readonly options: PrometheusOptions;
  private readonly clients = new Map<string, AxiosInstance>();
  private readonly scrapes = new Map<string, { until: number; scrape: Promise<Scrape> }>();

  constructor(options: PrometheusOptions) {
    this.options = options;
  }

  async read(subject: AnalysisSubject, metrics: Metric[]): Promise<ReadResult[]> {
    const readSecret = readingOnce(this.options.readSecret);
    return Promise.all(metrics.map((m) => this.readOne(subject, m, readSecret)));
  }

  /**
   * Whether every Prometheus metric of the rollout has an address and a mesh, and whether its
   * window covers two scrapes: a rate() over fewer samples than two returns no data.
   */
  async readiness(subject: AnalysisSubject, metrics: Metric[]): Promise<Readiness> {
    const windowMs = durationMs(subject.spec.analysis.interval);
    const checked = new Set<string>();
    for (const metric of metrics) {
      const where = this.whereFor(subject, metric);
      if (!where.address) {
        return { status: "False", reason: "PrometheusNotConfigured", message: NO_ADDRESS };
      }
      if (!metric.provider.query && !metric.provider.mesh) {
        return { status: "False", reason: "PrometheusNotConfigured", message: meshMissing(metric) };
      }
      if (checked.has(where.address)) continue;
      checked.add(where.address);
      const scrape = await this.scrapeInterval(subject, where);
      if ("reason" in scrape) {
        return {
          status: "Unknown",
          reason: "ScrapeIntervalUnknown",
          message: `cannot tell whether the query window covers two scrapes: ${scrape.reason}; --prometheus-scrape-interval can say it`,
        };
      }
      if (windowMs < 2 * scrape.ms) {
        return {
          status: "False",
          reason: "QueryWindowTooShort",
          message: `analysis.interval ${formatMs(windowMs)} is shorter than two scrape intervals of ${formatMs(scrape.ms)} (${scrape.source}): rate() over it can return no data; use at least ${formatMs(2 * scrape.ms)}`,
        };
      }
    }
    return {
      status: "True",
      reason: "Ready",
      message: `the query window ${formatMs(windowMs)} covers at least two scrapes`,
    };
  }

  /**
   * A compared metric's samples for the canary and the primary over the last analysis interval,
   * one every `compare.step` (two scrape intervals by default, so a rate() in each has data):
   * the same query for each side, {{target}} the canary's Deployment on one and the primary's on
   * the other, {{interval}} the step.
   */
  async sides(subject: AnalysisSubject, metric: Metric, primary: string): Promise<Sides> {
    const where = this.whereFor(subject, metric);
    const resolved = await this.targetFor(subject, where, readingOnce(this.options.readSecret));
    if (!resolved.ok) return resolved;
    const { target } = resolved;
    const scrape = metric.compare?.step ? undefined : await this.scrapeInterval(subject, where);
    const stepMs = metric.compare?.step
      ? durationMs(metric.compare.step)
      : scrape && "ms" in scrape
        ? 2 * scrape.ms
        : DEFAULT_STEP_MS;
    const intervalMs = durationMs(subject.spec.analysis.interval);
    const end = (this.options.now ?? Date.now)() / 1000;
    const side = async (deployment: string) => {
      const query = queryFor(metric, varsFor(subject, deployment, stepMs));
      if (!query.ok) return query;
      const got = await this.get(
        target,
        "api/v1/query_range",
        {
          query: query.value,
          start: String(end - intervalMs / 1000),
          end: String(end),
          step: String(stepMs / 1000),
        },
        timeoutFor(intervalMs),
      );
      return got.ok ? parseRangeAnswer(got.status, got.body, target.address) : got;
    };
    const [canary, baseline] = await Promise.all([side(subject.target), side(primary)]);
    if (!canary.ok) return canary;
    if (!baseline.ok) return baseline;
    return { ok: true, canary: canary.values, baseline: baseline.values };
  }

  /**
   * How many requests each Deployment served over the last analysis interval, counted by the
   * request series of the metric's mesh on the metric's Prometheus; no series is none served.
   */
  async requestCounts(
    subject: AnalysisSubject,
    metric: Metric,
    deployments: readonly string[],
  ): Promise<RequestCounts> {
    const { mesh } = metric.provider;
    if (!mesh) return { ok: false, reason: meshMissing(metric) };
    const where = this.whereFor(subject, metric);
    const resolved = await this.targetFor(subject, where, readingOnce(this.options.readSecret));
    if (!resolved.ok) return resolved;
    const intervalMs = durationMs(subject.spec.analysis.interval);
    const answers = await Promise.all(
      deployments.map((deployment) =>
        this.query(
          resolved.target,
          requestsQuery(mesh, varsFor(subject, deployment, intervalMs)),
          timeoutFor(intervalMs),
        ),
      ),
    );
    const counts: number[] = [];
    for (const answer of answers) {
      if (!answer.ok) return answer;
      counts.push(answer.value ?? 0);
    }
    return { ok: true, counts };
  }

  private async readOne(
    subject: AnalysisSubject,
    metric: Metric,
    readSecret: SecretReader,
  ): Promise<ReadResult> {
    const resolved = await this.targetFor(subject, this.whereFor(subject, metric), readSecret);
    if (!resolved.ok) return unreadable(resolved.reason);
    const { target } = resolved;
    const intervalMs = durationMs(subject.spec.analysis.interval);
    const q = queryFor(metric, varsFor(subject, subject.target, intervalMs));
    if (!q.ok) return unreadable(q.reason);
    const timeoutMs = timeoutFor(intervalMs);
    const [value, requests] = await Promise.all([
      this.query(target, q.value, timeoutMs),
      q.requests === undefined ? undefined : this.query(target, q.requests, timeoutMs),
    ]);
    if (!value.ok) return unreadable(value.reason);
    if (!requests) return read(value.value);
    if (!requests.ok) return unreadable(requests.reason);
    // No series counting requests means none were served in the window.
    return read(value.value, requests.value ?? 0);
  }

  /**
   * A metric's own prometheus block, else the rollout's, else the controller's address.
   * Credentials travel only with the block that names their address, so a token meant for one
   * Prometheus is never sent to another; a block without an address configures the default.
   */
  private whereFor(subject: AnalysisSubject, metric: Metric): Where {
    const blocks = [metric.provider.prometheus, subject.spec.analysis.prometheus];
    const settings = blocks.find((b) => b?.address) ?? blocks.find((b) => b !== undefined);
    return { address: settings?.address ?? this.options.defaultAddress, settings };
  }

  /** The target with its credentials, read from their Secrets now. */
  private async targetFor(
    subject: AnalysisSubject,
    where: Where,
    readSecret: SecretReader,
  ): Promise<{ ok: true; target: PrometheusTarget } | { ok: false; reason: string }> {
    const { address, settings } = where;
    if (!address) return { ok: false, reason: NO_ADDRESS };
    const target: PrometheusTarget = { address, insecureSkipVerify: settings?.insecureSkipVerify };
    for (const [field, ref] of [
      ["authorization", settings?.authorization],
      ["ca", settings?.caSecretRef],
    ] as const) {
      if (!ref) continue;
      const secret = await readSecret(subject.namespace, ref);
      if (!secret.ok) return { ok: false, reason: secret.reason };
      target[field] = secret.value;
    }
    return { ok: true, target };
  }

  private client(target: PrometheusTarget): AxiosInstance {
    const key = JSON.stringify([target.address, target.ca ?? "", !!target.insecureSkipVerify]);
    let client = this.clients.get(key);
    if (!client) {
      client = axios.create({
        baseURL: target.address,
        httpsAgent: httpsAgent(target),
        // Answers are parsed here, so that a proxy's HTML page is reported as what it is.
        responseType: "text",
        transformResponse: (body: unknown) => body,
        validateStatus: () => true,
      });
      this.clients.set(key, client);
    }
    return client;
  }

  private async get(
    target: PrometheusTarget,
    path: string,
    params: Record<string, string>,
    timeoutMs: number,
  ): Promise<{ ok: true; status: number; body: string } | { ok: false; reason: string }> {
    try {
      const response = await this.client(target).get<string>(path, {
        params,
        timeout: timeoutMs,
        headers: target.authorization ? { Authorization: target.authorization } : {},
      });
      return { ok: true, status: response.status, body: String(response.data ?? "") };
    } catch (e) {
      const tlsHint = target.address.startsWith("https:")
        ? "; set caSecretRef or insecureSkipVerify for a private CA"
        : "";
      return {
        ok: false,
        reason: noAnswer(e, target.address, timeoutMs, tlsHint).reason,
      };
    }
  }

  private async query(target: PrometheusTarget, promql: string, timeoutMs: number) {
    const got = await this.get(target, "api/v1/query", { query: promql }, timeoutMs);
    if (!got.ok) return got;
    return parseQueryAnswer(got.status, got.body, target.address);
  }

  /** Cached per address: a Prometheus's configuration changes rarely, and an answer costs a request. */
  private scrapeInterval(subject: AnalysisSubject, where: Where): Promise<Scrape> {
    const override = this.options.scrapeIntervalMs;
    if (override !== undefined) {
      return Promise.resolve({ ms: override, source: "--prometheus-scrape-interval" });
    }
    const address = where.address ?? "";
    const now = Date.now();
    const cached = this.scrapes.get(address);
    if (cached && cached.until > now) return cached.scrape;
    const scrape = this.fetchScrapeInterval(subject, where);
    const entry = { until: now + SCRAPE_CACHE_MS, scrape };
    this.scrapes.set(address, entry);
    // A failed read is retried sooner than a good one is refreshed.
    scrape.then((s) => {
      if ("reason" in s) entry.until = now + SCRAPE_RETRY_MS;
    });
    return scrape;
  }

  private async fetchScrapeInterval(subject: AnalysisSubject, where: Where): Promise<Scrape> {
    const resolved = await this.targetFor(subject, where, this.options.readSecret);
    if (!resolved.ok) return resolved;
    const { target } = resolved;
    const got = await this.get(target, "api/v1/status/config", {}, CONFIG_TIMEOUT_MS);
    if (!got.ok) return got;
    const answer = apiAnswer(got.status, got.body, target.address);
    if (!answer.ok) return answer;
    const data = ConfigData.safeParse(answer.data);
    if (!data.success) return { reason: "its /api/v1/status/config answer has no yaml" };
    return longestScrapeInterval(data.data.yaml);
  }
}

/** A check's window as the queries about one Deployment see it, and how long each may take. */
const meshMissing = (metric: Metric) =>
  `metric ${metric.name} on Prometheus needs provider.mesh (linkerd, osm or envoy) or provider.query`;
