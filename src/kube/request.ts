import type { IncomingMessage } from "node:http";
import https from "node:https";

/**
 * Where the apiserver is and how to present credentials to it: what a request needs of a
 * kubeconfig. client-node's KubeConfig has this shape; kube/kubeconfig.ts is a lighter one.
 */
export interface ApiAccess {
  getCurrentCluster(): { readonly server: string } | null;
  applyToHTTPSOptions(options: https.RequestOptions): Promise<void>;
}

/** Why a request did not succeed: an HTTP status with the apiserver's Status, or no answer at all. */
export type RequestFailure =
  | {
      kind: "status";
      status: number;
      reason: string;
      message: string;
      /** The reasons of the Status's details.causes, e.g. ResourceVersionTooLarge. */
      causes?: string[];
    }
  | { kind: "network"; message: string }
  | { kind: "aborted" };

export type RequestResult<T> = { ok: true; value: T } | { ok: false; failure: RequestFailure };

export interface RequestOptions {
  method?: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  /** The body's media type; patches name their kind here. Default application/json. */
  contentType?: string;
  /** Absolute API path, without the query. */
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
  /** Aborts the request; the result is then { kind: "aborted" }. */
  signal?: AbortSignal;
  /** Gives up (as a network failure) when no complete answer arrives in time. */
  timeoutMs?: number;
}

export function describeFailure(failure: RequestFailure): string {
  switch (failure.kind) {
    case "status":
      return `HTTP ${failure.status} ${failure.reason}: ${failure.message}`;
    case "network":
      return failure.message;
    case "aborted":
      return "aborted";
  }
}

function urlOf(kubeConfig: ApiAccess, options: RequestOptions): URL | RequestFailure {
  const cluster = kubeConfig.getCurrentCluster();
  if (!cluster) return { kind: "network", message: "kubeconfig has no current cluster" };
  const url = new URL(cluster.server.replace(/\/+$/, "") + options.path);
  for (const [key, value] of Object.entries(options.query ?? {})) {
    if (value !== undefined) url.searchParams.set(key, value);
  }
  return url;
}

function statusFailure(status: number, text: string): RequestFailure {
  let reason = `HTTP${status}`;
  let message = text.slice(0, 300);
  let causes: string[] | undefined;
  try {
    const parsed = JSON.parse(text) as { reason?: unknown; message?: unknown; details?: unknown };
    if (typeof parsed.reason === "string") reason = parsed.reason;
    if (typeof parsed.message === "string") message = parsed.message;
    causes = statusCauses(parsed);
  } catch {
    // Not a metav1.Status (a proxy's error page, say): the raw text is the best reason there is.
  }
  return { kind: "status", status, reason, message, ...(causes ? { causes } : {}) };
}

/** The reasons of a metav1.Status's details.causes, if it names any. */
export function statusCauses(status: unknown): string[] | undefined {
  const causes = (status as { details?: { causes?: unknown } } | null)?.details?.causes;
  if (!Array.isArray(causes)) return undefined;
  const reasons = causes
    .map((c) => (c as { reason?: unknown } | null)?.reason)
    .filter((r): r is string => typeof r === "string");
  return reasons.length ? reasons : undefined;
}

/**
 * Sends one request and hands over the response once its headers are in. Credentials are applied
 * per request so that rotated tokens (exec plugins, projected ServiceAccount tokens) are picked up.
 */
async function send(
  kubeConfig: ApiAccess,
  options: RequestOptions,
  onResponse: (response: IncomingMessage) => void,
  onFailure: (failure: RequestFailure) => void,
): Promise<() => void> {
  const url = urlOf(kubeConfig, options);
  if (!(url instanceof URL)) {
    onFailure(url);
    return () => {};
  }
  const httpsOptions: https.RequestOptions = {};
  try {
    await kubeConfig.applyToHTTPSOptions(httpsOptions);
  } catch (error) {
    onFailure({ kind: "network", message: `credentials: ${(error as Error).message}` });
    return () => {};
  }
  const payload =
    options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
  const request = https.request(url, {
    ...httpsOptions,
    method: options.method ?? "GET",
    headers: {
      ...httpsOptions.headers,
      accept: "application/json",
      ...(payload
        ? {
            "content-type": options.contentType ?? "application/json",
            "content-length": payload.length,
          }
        : {}),
    },
  });
  request.on("response", onResponse);
  request.on("error", (error) => onFailure({ kind: "network", message: error.message }));
  request.end(payload);
  return () => request.destroy();
}

/** Sends a request and parses the JSON answer; every failure comes back as a value. */
export function kubeRequest<T = unknown>(
  kubeConfig: ApiAccess,
  options: RequestOptions,
): Promise<RequestResult<T>> {
  return new Promise((resolve) => {
    let settled = false;
    let destroy = () => {};
    let timer: NodeJS.Timeout | undefined;
    const settle = (result: RequestResult<T>) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      destroy();
      resolve(result);
    };
    const onAbort = () => settle({ ok: false, failure: { kind: "aborted" } });
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    if (options.timeoutMs !== undefined) {
      const ms = options.timeoutMs;
      timer = setTimeout(
        () => settle({ ok: false, failure: { kind: "network", message: `no answer in ${ms} ms` } }),
        ms,
      );
    }
    const fail = (failure: RequestFailure) => settle({ ok: false, failure });
    void send(
      kubeConfig,
      options,
      (response) => {
        const chunks: Buffer[] = [];
        response.on("data", (chunk: Buffer) => chunks.push(chunk));
        response.on("error", (error) => fail({ kind: "network", message: error.message }));
        response.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          const status = response.statusCode ?? 0;
          if (status < 200 || status >= 300) return fail(statusFailure(status, text));
          try {
            settle({ ok: true, value: JSON.parse(text) as T });
          } catch {
            fail({ kind: "network", message: `HTTP ${status} with a body that is not JSON` });
          }
        });
      },
      fail,
    ).then((destroyRequest) => {
      if (settled) destroyRequest();
      else destroy = destroyRequest;
    });
  });
}

/** How a stream ended: "ended" is the server closing it in the ordinary way. */
export type StreamEnd = { kind: "ended" } | { kind: "failed"; failure: RequestFailure };

export interface StreamOptions extends RequestOptions {
  /** Called once the server has accepted the stream (HTTP 200). */
  onOpen?: () => void;
  /** Each newline-terminated line of the body, as it arrives; returning false closes the stream. */
  onLine: (line: string) => boolean | undefined;
}

/**
 * Reads a streaming response (a watch) line by line until it ends. There is no inactivity
 * timeout here: an idle watch is silent by design, and the caller bounds its life instead.
 */
export function kubeStream(kubeConfig: ApiAccess, options: StreamOptions): Promise<StreamEnd> {
  return new Promise((resolve) => {
    let settled = false;
    let destroy = () => {};
    const settle = (end: StreamEnd) => {
      if (settled) return;
      settled = true;
      options.signal?.removeEventListener("abort", onAbort);
      destroy();
      resolve(end);
    };
    const onAbort = () => settle({ kind: "failed", failure: { kind: "aborted" } });
    if (options.signal?.aborted) return onAbort();
    options.signal?.addEventListener("abort", onAbort, { once: true });
    const fail = (failure: RequestFailure) => settle({ kind: "failed", failure });
    void send(
      kubeConfig,
      options,
      (response) => {
        const status = response.statusCode ?? 0;
        response.setEncoding("utf8");
        if (status !== 200) {
          let text = "";
          response.on("data", (chunk: string) => {
            text += chunk;
          });
          response.on("end", () => fail(statusFailure(status, text)));
          response.on("error", () => fail(statusFailure(status, text)));
          return;
        }
        options.onOpen?.();
        let pending = "";
        response.on("data", (chunk: string) => {
          pending += chunk;
          let start = 0;
          for (let newline = pending.indexOf("\n"); newline >= 0 && !settled; ) {
            const line = pending.slice(start, newline);
            start = newline + 1;
            if (line.trim() && options.onLine(line) === false) settle({ kind: "ended" });
            newline = pending.indexOf("\n", start);
          }
          pending = pending.slice(start);
        });
        response.on("error", (error) => fail({ kind: "network", message: error.message }));
        // "aborted"/"close" without "end" means the connection broke mid-stream.
        response.on("close", () => {
          if (response.complete) settle({ kind: "ended" });
          else fail({ kind: "network", message: "connection closed mid-stream" });
        });
      },
      fail,
    ).then((destroyRequest) => {
      if (settled) destroyRequest();
      else destroy = destroyRequest;
    });
  });
}
