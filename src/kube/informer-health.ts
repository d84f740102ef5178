import type { RequestFailure } from "./request.ts";

/**
 * Why one list or watch failed, coarsely: what the backoff, the logs and the failure counter
 * (fledge_informer_failures_total's reason) go by.
 */
export type FailureKind =
  /** No answer at all: connection refused or reset, a watch cut mid-stream. */
  | "unreachable"
  /** 401 or 403: credentials or RBAC, as a restarting apiserver answers until it has loaded them. */
  | "forbidden"
  /** 429: too many requests, or not ready to take them. */
  | "throttled"
  /** The watch cache is behind the resourceVersion asked for (504, cause ResourceVersionTooLarge). */
  | "too-large-resource-version"
  /** A 504, or no complete answer in the time allowed. */
  | "timeout"
  /** Another 5xx. */
  | "server-error"
  /** Another 4xx. */
  | "client-error"
  /** An answer the informer cannot use: not JSON, no resourceVersion, a watch closed at once. */
  | "bad-answer";

export const FAILURE_KINDS: readonly FailureKind[] = [
  "unreachable",
  "forbidden",
  "throttled",
  "too-large-resource-version",
  "timeout",
  "server-error",
  "client-error",
  "bad-answer",
];

/** A metav1.Status as an apiserver sends it in an error answer or a watch's ERROR event. */
export interface StatusLike {
  code?: number;
  reason?: string;
  message?: string;
  causes?: readonly string[];
}

const TOO_LARGE_CAUSE = "ResourceVersionTooLarge";
const TOO_LARGE_MESSAGE = "Too large resource version";
// What kubeRequest says when its timeoutMs passes.
const NO_ANSWER = "no answer in ";

/**
 * client-go's isTooLargeResourceVersionError: the apiserver's watch cache has not caught up with
 * the resourceVersion asked for. Servers since 1.19 name the cause; older ones say it only in the
 * message of a 504 Timeout.
 */
export function isTooLargeResourceVersion(status: StatusLike): boolean {
  if (status.causes?.includes(TOO_LARGE_CAUSE)) return true;
  return (
    (status.code === 504 || status.reason === "Timeout") &&
    (status.message ?? "").includes(TOO_LARGE_MESSAGE)
  );
}

/** The kind of a failed request, or of a watch's ERROR event (a Status). */
export function classifyFailure(failure: RequestFailure | StatusLike): FailureKind {
  if ("kind" in failure) {
    if (failure.kind === "aborted") return "unreachable";
    if (failure.kind === "network")
      return failure.message.startsWith(NO_ANSWER) ? "timeout" : "unreachable";
    return classifyFailure({
      code: failure.status,
      reason: failure.reason,
      message: failure.message,
      causes: failure.causes,
    });
  }
  const code = failure.code ?? 0;
  if (isTooLargeResourceVersion(failure)) return "too-large-resource-version";
  if (code === 401 || code === 403) return "forbidden";
  if (code === 429) return "throttled";
  if (code === 504 || failure.reason === "Timeout") return "timeout";
  if (code >= 500) return "server-error";
  if (code >= 400) return "client-error";
  return "bad-answer";
}

export const MIN_BACKOFF_MS = 100;
// Short, because the watch opening again is how the controller learns that the apiserver is back
// (its failed reconciles are retried then): a restarting apiserver refuses connections, then
// answers 403 and 429 while it loads RBAC and its storage, and a longer wait there made the next
// step come seconds after it was ready. A refused connection or a 403 costs an apiserver little.
export const QUICK_MAX_BACKOFF_MS = 1_000;
// An apiserver that answers but cannot serve (its watch cache behind etcd, requests timing out,
// 5xx) is loaded: retrying each second adds to the load, so these back off to half a minute, as
// client-go's reflector does.
export const MAX_BACKOFF_MS = 30_000;

/** The failures that say the apiserver is away or starting, rather than loaded. */
const QUICK: ReadonlySet<FailureKind> = new Set(["unreachable", "forbidden", "throttled"]);

export const isQuick = (kind: FailureKind) => QUICK.has(kind);

/**
 * How long to wait after the n-th consecutive failure of its class (n from 0): doubling from
 * MIN_BACKOFF_MS up to the class's cap, then a random point in the upper half of that, so that a
 * fleet of informers that failed together does not retry in step. `random` is in [0, 1).
 */
export function backoffDelay(kind: FailureKind, n: number, random: number = Math.random()): number {
  const cap = isQuick(kind) ? QUICK_MAX_BACKOFF_MS : MAX_BACKOFF_MS;
  const ceiling = Math.min(cap, MIN_BACKOFF_MS * 2 ** Math.min(n, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}

/** How long an informer may fail before it says so (a warning, /readyz, the metrics). */
export const FAILING_AFTER_MS = 10_000;

/** An informer's health as /readyz and /metrics read it. */
export interface InformerHealth {
  /** The first list is in the cache. */
  synced: boolean;
  /** Failing for FAILING_AFTER_MS or more without a working watch. */
  failing: boolean;
  /** When the current run of failures began; undefined while lists and watches work. */
  failingSince: number | undefined;
  /** Failures since the watch last worked. */
  failures: number;
  /** The last failure's kind and description. */
  kind: FailureKind | undefined;
  reason: string | undefined;
  /** Every failure since the informer was made, by kind (for a counter). */
  totals: Readonly<Record<FailureKind, number>>;
}

/**
 * The run of failures an informer is in, and the backoff it implies: pure, with time given.
 * A run ends only when a watch works (see the informer), not when a list succeeds, since a list
 * followed by a watch that fails at once is the loop this exists to stop.
 */
export class FailureRun {
  private since: number | undefined;
  private count = 0;
  private quick = 0;
  private slow = 0;
  private announced = false;
  private last: { kind: FailureKind; reason: string } | undefined;
  private readonly totals = Object.fromEntries(FAILURE_KINDS.map((k) => [k, 0])) as Record<
    FailureKind,
    number
  >;

  private readonly failingAfterMs: number;

  constructor(failingAfterMs: number = FAILING_AFTER_MS) {
    this.failingAfterMs = failingAfterMs;
  }

  /** Records a failure; returns how long to wait before the next try. */
  failed(kind: FailureKind, reason: string, now: number, random?: number): number {
    this.since ??= now;
    this.count += 1;
    this.totals[kind] += 1;
    this.last = { kind, reason };
    const n = isQuick(kind) ? this.quick++ : this.slow++;
    return backoffDelay(kind, n, random);
  }

  /** Whether the run has lasted past the threshold and has not been said yet: say it once. */
  announce(now: number): boolean {
    if (this.announced || !this.isFailing(now)) return false;
    this.announced = true;
    return true;
  }

  /** Ends the run; returns how long it lasted if it was announced (to say it recovered). */
  worked(now: number): { outageMs: number; failures: number } | undefined {
    const ended =
      this.announced && this.since !== undefined
        ? { outageMs: now - this.since, failures: this.count }
        : undefined;
    this.since = undefined;
    this.count = 0;
    this.quick = 0;
    this.slow = 0;
    this.announced = false;
    return ended;
  }

  isFailing(now: number): boolean {
    return this.since !== undefined && now - this.since >= this.failingAfterMs;
  }

  /** Milliseconds from the start of the run to the threshold; undefined outside a run. */
  untilThreshold(now: number): number | undefined {
    return this.since === undefined ? undefined : this.since + this.failingAfterMs - now;
  }

  health(synced: boolean, now: number): InformerHealth {
    return {
      synced,
      failing: this.isFailing(now),
      failingSince: this.since,
      failures: this.count,
      kind: this.last && this.since !== undefined ? this.last.kind : undefined,
      reason: this.last && this.since !== undefined ? this.last.reason : undefined,
      totals: { ...this.totals },
    };
  }
}

/**
 * What the metrics call an informer's collection: "rollouts.fledge.dev", "services", and a
 * named object's collection with its name ("customresourcedefinitions.apiextensions.k8s.io/x").
 */
export function resourceOf(path: string, fieldSelector?: string): string {
  const parts = path.split("/").filter(Boolean);
  const resource = parts[parts.length - 1] ?? path;
  const group = parts[0] === "apis" ? parts[1] : undefined;
  const name = /^metadata\.name=([^,]+)$/.exec(fieldSelector ?? "")?.[1];
  return `${resource}${group ? `.${group}` : ""}${name ? `/${name}` : ""}`;
}
