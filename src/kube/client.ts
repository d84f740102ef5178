import type { Logger } from "../observability/logger.ts";
import { currentFence } from "./fence.ts";
import { type ApiAccess, kubeRequest, type RequestOptions } from "./request.ts";

/** An apiserver answer that is not a success, as a value: the reconciler decides what it means. */
export type KubeError = {
  /** The HTTP status; 0 when no answer came. */
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

/** What a request made after its work's fence (shard tenure) ended gets, unsent. */
const FENCED: KubeError = {
  status: 0,
  reason: "ShardLost",
  message: "this replica no longer holds the Rollout's shard; its new holder carries on",
};
/**
 * Longer than the apiserver's own bound on a request (--request-timeout, 60 s by default), so a
 * slow server's answer, its 504 included, is awaited rather than abandoned. An abandoned write is
 * finished by the server all the same and then repeated by the retry: at N=10000 Service creates
 * took 54 s, and with a 30 s limit 1021 of 1059 in eight minutes were given up, each leaking
 * the ClusterIP it had allocated. A connection that is truly dead still ends here.
 */
const TIMEOUT_MS = 70_000;

export type RequestCounter = (method: string, path: string, ok: boolean) => void;

// Events go out beside the reconciles (observability/events.ts), so where they fall among the
// writes varies from run to run; they are not counted.
const EVENTS = /\/events(\/|$)/;

/**
 * Numbers the successful writes (any verb but GET, Events aside) in a debug line each. With
 * `crashAfter` k, the process dies by SIGKILL right after the k-th is answered, before its caller
 * sees the answer, as a crash there would: the crash-point tests set it, nothing else does.
 */
export function writeCounter(logger: Logger, crashAfter?: number): RequestCounter {
  let n = 0;
  return (method, path, ok) => {
    if (!ok || method === "GET" || EVENTS.test(path)) return;
    n += 1;
    logger.debug({ n, method, path }, "write");
    if (n === crashAfter) process.kill(process.pid, "SIGKILL");
  };
}

/**
 * The verbs the reconciler writes with, over the same request path the informers and the
 * leader election use; failures come back as KubeError values.
 */
export class KubeClient {
  private readonly kubeConfig: ApiAccess;
  private readonly onRequest: RequestCounter | undefined;

  constructor(kubeConfig: ApiAccess, onRequest?: RequestCounter) {
    this.kubeConfig = kubeConfig;
    this.onRequest = onRequest;
  }

  static async fromKubeConfig(
    kubeConfig: ApiAccess,
    onRequest?: RequestCounter,
  ): Promise<KubeClient> {
    return new KubeClient(kubeConfig, onRequest);
  }

  async request<T>(
    method: NonNullable<RequestOptions["method"]>,
    path: string,
    body?: unknown,
    contentType?: string,
    query?: Record<string, string>,
  ): Promise<KubeResult<T>> {
    const fence = currentFence();
    if (fence && !fence.holds()) return { ok: false, error: FENCED };
    const result = await kubeRequest<T>(this.kubeConfig, {
      method,
      path,
      body,
      contentType,
      query,
      timeoutMs: TIMEOUT_MS,
      signal: fence?.signal,
    });
    this.onRequest?.(method, path, result.ok);
    if (result.ok) return result;
    const f = result.failure;
    if (f.kind === "aborted" && fence) return { ok: false, error: FENCED };
    return {
      ok: false,
      error:
        f.kind === "status"
          ? { status: f.status, reason: f.reason, message: f.message }
          : {
              status: 0,
              reason: "Unreachable",
              message: f.kind === "network" ? f.message : "aborted",
            },
    };
  }

  get<T>(path: string) {
    return this.request<T>("GET", path);
  }
  create<T>(path: string, body: unknown) {
    return this.request<T>("POST", path, body, undefined, { fieldManager: FIELD_MANAGER });
  }
  replace<T>(path: string, body: unknown) {
    return this.request<T>("PUT", path, body, undefined, { fieldManager: FIELD_MANAGER });
  }
  patch<T>(path: string, body: unknown, type: PatchType = "merge") {
    const query: Record<string, string> = { fieldManager: FIELD_MANAGER };
    if (type === "apply") query.force = "true";
    return this.request<T>("PATCH", path, body, PATCH_CONTENT_TYPE[type], query);
  }
  delete<T>(path: string) {
    return this.request<T>("DELETE", path);
  }
}
