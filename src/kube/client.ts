import https from "node:https";
import type { KubeConfig } from "@kubernetes/client-node";

/** An apiserver answer that is not a success, as a value: the reconciler decides what it means. */
export type KubeError = {
  status: number;
  /** metav1.Status reason: NotFound, Conflict, AlreadyExists, Forbidden, Invalid ... or Unreachable. */
  reason: string;
  message: string;
};
export type KubeResult<T> = { ok: true; value: T } | { ok: false; error: KubeError };

export type PatchType = "merge" | "json" | "apply";
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  json: "application/json-patch+json",
  apply: "application/apply-patch+yaml",
};

export const FIELD_MANAGER = "fledge";

export type RequestCounter = (method: string, path: string, status: number) => void;

/**
 * The thin layer over the apiserver's REST API the controller writes through: one keep-alive
 * connection pool, JSON in and out, failures as values. client-node supplies the credentials.
 */
export class KubeClient {
  readonly server: string;
  private readonly options: https.RequestOptions;
  private readonly agent: https.Agent;
  private readonly onRequest: RequestCounter | undefined;

  private constructor(server: string, options: https.RequestOptions, onRequest?: RequestCounter) {
    this.server = server;
    this.onRequest = onRequest;
    this.agent = new https.Agent({
      keepAlive: true,
      maxSockets: 32,
      ca: options.ca,
      cert: options.cert,
      key: options.key,
    });
    this.options = options;
  }

  static async fromKubeConfig(kc: KubeConfig, onRequest?: RequestCounter): Promise<KubeClient> {
    const cluster = kc.getCurrentCluster();
    if (!cluster) throw new Error("kubeconfig has no current cluster");
    const options: https.RequestOptions = {};
    await kc.applyToHTTPSOptions(options);
    return new KubeClient(cluster.server, options, onRequest);
  }

  request<T>(
    method: string,
    path: string,
    body?: unknown,
    contentType = "application/json",
  ): Promise<KubeResult<T>> {
    const url = new URL(path, this.server);
    const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve) => {
      const req = https.request(
        url,
        {
          ...this.options,
          agent: this.agent,
          method,
          headers: {
            ...(this.options.headers ?? {}),
            accept: "application/json",
            ...(payload ? { "content-type": contentType, "content-length": payload.length } : {}),
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => {
            const status = res.statusCode ?? 0;
            this.onRequest?.(method, path, status);
            const text = Buffer.concat(chunks).toString("utf8");
            let json: unknown;
            try {
              json = text ? JSON.parse(text) : undefined;
            } catch {
              json = undefined;
            }
            if (status >= 200 && status < 300) return resolve({ ok: true, value: json as T });
            const s = (json ?? {}) as { reason?: string; message?: string };
            resolve({
              ok: false,
              error: {
                status,
                reason: s.reason ?? `HTTP${status}`,
                message: s.message ?? text.slice(0, 300),
              },
            });
          });
          res.on("error", (e) =>
            resolve({ ok: false, error: { status: 0, reason: "Unreachable", message: e.message } }),
          );
        },
      );
      req.on("error", (e) =>
        resolve({ ok: false, error: { status: 0, reason: "Unreachable", message: e.message } }),
      );
      req.setTimeout(30_000, () => req.destroy(new Error("request timed out after 30s")));
      if (payload) req.write(payload);
      req.end();
    });
  }

  get<T>(path: string) {
    return this.request<T>("GET", path);
  }
  create<T>(path: string, body: unknown) {
    return this.request<T>("POST", `${path}?fieldManager=${FIELD_MANAGER}`, body);
  }
  patch<T>(path: string, body: unknown, type: PatchType = "merge") {
    const force = type === "apply" ? "&force=true" : "";
    return this.request<T>(
      "PATCH",
      `${path}?fieldManager=${FIELD_MANAGER}${force}`,
      body,
      PATCH_CONTENT_TYPE[type],
    );
  }
  delete<T>(path: string, body?: unknown) {
    return this.request<T>("DELETE", path, body);
  }

  close(): void {
    this.agent.destroy();
  }
}
