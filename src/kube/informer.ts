import { setTimeout as sleep } from "node:timers/promises";
import { isDeepStrictEqual } from "node:util";
import type { Logger } from "../observability/logger.ts";
import {
  classifyFailure,
  type FailureKind,
  FailureRun,
  type InformerHealth,
  resourceOf,
} from "./informer-health.ts";
import { type Entry, OwnWrites } from "./own-writes.ts";
import { readFromNow } from "./read-from-now.ts";
import {
  type ApiAccess,
  describeFailure,
  kubeRequest,
  kubeStream,
  type RequestFailure,
  statusCauses,
} from "./request.ts";

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface InformerOptions<T> {
  kubeConfig: ApiAccess;
  /** Collection path, e.g. "/apis/apps/v1/deployments" or "/apis/apps/v1/namespaces/shop/deployments". */
  path: string;
  labelSelector?: string;
  /** e.g. "metadata.name=x": RBAC grants list and watch of named objects only to such a request. */
  fieldSelector?: string;
  /** Parses and slims each raw object to what reconcile reads; undefined drops it (log why at debug/warn). */
  transform: (raw: unknown) => T | undefined;
  logger: Logger;
  /** List page size (limit/continue paging). Default 500. */
  pageSize?: number;
  /** How long lists and watches may fail before the informer says so. Default 10 s. */
  failingAfterMs?: number;
}

export interface Informer<T extends { metadata: { name: string; namespace?: string } }> {
  /**
   * Lists (paged) and starts watching; resolves once the first list is in the cache, or when
   * stop() comes first (synced then stays false).
   */
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The newest copy known: the watch's, or one of our own writes it has not brought back yet. */
  get(namespace: string | undefined, name: string): T | undefined;
  list(): T[];
  /**
   * Takes an object as one of our own writes returned it, to answer get() with until the watch
   * brings that version or a later one. A reconcile must never act on a copy older than its own
   * last write (status is the machine's memory; an older one undoes steps), and on a loaded
   * apiserver the watch lags by many seconds. client-go's MutationCache does the same.
   */
  remember(raw: unknown): void;
  /**
   * Lists the collection from the apiserver now, as a restart would, and answers get() and
   * list() with each object newer than the watch's copy until the watch brings it: for a reader
   * that must not act on what the watch has yet to show, such as a shard's new holder acting
   * after its last one. Listeners are told of what it finds changed (and not again when the
   * watch brings it). Each call is answered by a list begun at or after it (calls made during
   * one share the next); a failed list is said, for the caller to try again.
   */
  readAfresh(): Promise<{ ok: true } | { ok: false; reason: string }>;
  /**
   * Called for every change to a transformed object after start (and for each object of the
   * initial list as ADDED); an update that leaves the transformed object as it was is not told.
   */
  onEvent(listener: (type: WatchEventType, obj: T, old: T | undefined) => void): void;
  /**
   * Called when a watch opens again after lists or watches failed (the apiserver down, refusing,
   * unreachable): the apiserver answers again, so what failed meanwhile can be tried now.
   */
  onReconnect(listener: () => void): void;
  readonly synced: boolean;
  /** What the metrics call its collection, e.g. "rollouts.fledge.dev" (see resourceOf). */
  readonly resource: string;
  /**
   * Whether it keeps up: synced stays true after the first list, so this says whether lists and
   * watches have failed since, for how long, and why.
   */
  readonly health: InformerHealth;
}

type Listener<T> = (type: WatchEventType, obj: T, old: T | undefined) => void;

interface RawMeta {
  key: string;
  resourceVersion: string;
}

interface WatchEvent {
  type: string;
  object: unknown;
}

/** What ended one watch, and so what the loop does next. */
type WatchEnd =
  | { kind: "ended" }
  | { kind: "expired"; reason: string }
  | { kind: "failed"; failure: FailureKind; reason: string }
  | { kind: "stopped" };

// The backoff between failed lists and watches is in informer-health.ts: quick while the
// apiserver is away or starting, growing to half a minute while it answers but cannot serve.
// client-go's reflector picks a random watch timeout in [5, 10) minutes so that a fleet of
// informers does not reconnect in step.
const MIN_WATCH_TIMEOUT_S = 300;
// A watch the server has not ended this long after its own timeout is on a dead connection.
const WATCH_DEADLINE_MARGIN_MS = 30_000;
// A watch ending normally sooner than this, with no event, is treated as a failure, so that a
// server that accepts and closes at once is not hammered. A watch open this long, or that has
// brought an event, works: that ends a run of failures (a list alone does not, for a watch that
// fails at once after each list is the loop the backoff has to break).
const SHORT_WATCH_MS = 1_000;

function keyOf(namespace: string | undefined, name: string): string {
  return namespace ? `${namespace}/${name}` : name;
}

function rawMeta(raw: unknown): RawMeta | undefined {
  const metadata = (raw as { metadata?: Record<string, unknown> } | null)?.metadata;
  const name = metadata?.name;
  const namespace = metadata?.namespace;
  const resourceVersion = metadata?.resourceVersion;
  if (typeof name !== "string" || typeof resourceVersion !== "string") return undefined;
  return {
    key: keyOf(typeof namespace === "string" ? namespace : undefined, name),
    resourceVersion,
  };
}

/**
 * Whether an update changed what the cache keeps. Listeners hear only of those: most updates to
 * a Deployment are its status counting pods, which a slim view mostly drops, and waking a
 * reconcile for each of them was most of the controller's work while a thousand rolled out.
 */
function changed(before: unknown, after: unknown): boolean {
  return !isDeepStrictEqual(withoutVersion(before), withoutVersion(after));
}

const withoutVersion = (value: unknown) => {
  const v = value as { metadata?: Record<string, unknown> };
  return v?.metadata ? { ...v, metadata: { ...v.metadata, resourceVersion: undefined } } : v;
};

function isGone(failure: RequestFailure): boolean {
  return failure.kind === "status" && failure.status === 410;
}

interface ListPage {
  items?: unknown[];
  metadata?: { resourceVersion?: string; continue?: string };
}

type ListResult<T> =
  | { ok: true; entries: Map<string, Entry<T>>; resourceVersion: string }
  | { ok: false; aborted: true }
  | { ok: false; aborted: false; failure: FailureKind; reason: string };

/**
 * A list+watch cache of one collection, in the manner of client-go's reflector: a paged list,
 * then a watch from the list's resourceVersion, resumed after every disconnect from the last
 * resourceVersion seen (bookmarks included), and re-listed on 410 Gone with the differences
 * emitted as events. Only transformed objects are kept. Failures back off (informer-health.ts);
 * a run of them past a threshold is said once at warn, and shows in `health`.
 */
export function createInformer<T extends { metadata: { name: string; namespace?: string } }>(
  options: InformerOptions<T>,
): Informer<T> {
  const { kubeConfig, path, labelSelector, fieldSelector, transform } = options;
  const pageSize = options.pageSize ?? 500;
  const logger = options.logger.child({ informer: path, labelSelector });
  const resource = resourceOf(path, fieldSelector);
  const failures = new FailureRun(options.failingAfterMs);
  let cache = new Map<string, Entry<T>>();
  const written = new OwnWrites<T>();
  const listeners: Listener<T>[] = [];
  const reconnectListeners: (() => void)[] = [];
  const stopper = new AbortController();
  let synced = false;
  let running: Promise<void> | undefined;
  let markSynced: () => void = () => {};
  const firstSync = new Promise<void>((resolve) => {
    markSynced = resolve;
  });

  // Whether lists or watches have failed since the last watch opened.
  let broken = false;
  const reopened = () => {
    if (!broken) return;
    broken = false;
    logger.debug("watch open again after failures");
    for (const listener of reconnectListeners) {
      try {
        listener();
      } catch (error) {
        logger.error({ err: error }, "informer reconnect listener threw");
      }
    }
  };

  const emit = (type: WatchEventType, obj: T, old: T | undefined) => {
    for (const listener of listeners) {
      try {
        listener(type, obj, old);
      } catch (error) {
        logger.error({ err: error, type }, "informer listener threw; the event is not retried");
      }
    }
  };

  const slim = (raw: unknown, meta: RawMeta): T | undefined => {
    const value = transform(raw);
    if (value === undefined) logger.debug({ key: meta.key }, "transform dropped object");
    return value;
  };

  const listAll = async (): Promise<ListResult<T>> => {
    const entries = new Map<string, Entry<T>>();
    let continueToken: string | undefined;
    let paged = true;
    for (;;) {
      const result = await kubeRequest<ListPage>(kubeConfig, {
        path,
        query: {
          labelSelector,
          fieldSelector,
          limit: paged ? String(pageSize) : undefined,
          continue: continueToken,
        },
        signal: stopper.signal,
        timeoutMs: 60_000,
      });
      if (!result.ok) {
        // An expired continue token means the snapshot is gone; as client-go does, fall back to
        // one unpaged list rather than starting a paged list that may expire again.
        if (continueToken && isGone(result.failure)) {
          logger.info("continue token expired while paging; listing without paging");
          entries.clear();
          continueToken = undefined;
          paged = false;
          continue;
        }
        if (result.failure.kind === "aborted") return { ok: false, aborted: true };
        return {
          ok: false,
          aborted: false,
          failure: classifyFailure(result.failure),
          reason: describeFailure(result.failure),
        };
      }
      for (const raw of result.value.items ?? []) {
        const meta = rawMeta(raw);
        if (!meta) {
          logger.warn("listed object without name or resourceVersion; dropped");
          continue;
        }
        const value = slim(raw, meta);
        if (value !== undefined)
          entries.set(meta.key, { value, resourceVersion: meta.resourceVersion });
      }
      continueToken = result.value.metadata?.continue || undefined;
      if (!continueToken) {
        const resourceVersion = result.value.metadata?.resourceVersion;
        if (!resourceVersion) {
          return {
            ok: false,
            aborted: false,
            failure: "bad-answer",
            reason: "list answer has no resourceVersion",
          };
        }
        return { ok: true, entries, resourceVersion };
      }
    }
  };

  const readAfresh = readFromNow(async () => {
    const listed = await listAll();
    if (!listed.ok)
      return { ok: false as const, reason: listed.aborted ? "stopped" : listed.reason };
    for (const [key, entry] of listed.entries) {
      const before = written.get(key) ?? cache.get(key);
      // Unlike our own writes, these are news to listeners; the watch bringing them is not.
      if (
        written.remember(key, entry, cache.get(key)) &&
        (!before || changed(before.value, entry.value))
      )
        emit(before ? "MODIFIED" : "ADDED", entry.value, before?.value);
    }
    return { ok: true as const };
  });

  /** Swaps in a fresh list, telling listeners what differs from the cache. */
  const replace = (entries: Map<string, Entry<T>>, listedAt: string) => {
    const previous = cache;
    cache = entries;
    written.listed(entries, listedAt);
    for (const [key, entry] of entries) {
      const old = previous.get(key);
      if (!old) emit("ADDED", entry.value, undefined);
      else if (old.resourceVersion !== entry.resourceVersion && changed(old.value, entry.value))
        emit("MODIFIED", entry.value, old.value);
    }
    for (const [key, old] of previous) {
      if (!entries.has(key)) emit("DELETED", old.value, old.value);
    }
  };

  const apply = (event: WatchEvent, meta: RawMeta) => {
    const old = cache.get(meta.key);
    const mine = written.reached(meta.key, meta.resourceVersion);
    if (event.type === "DELETED") {
      if (!old) return;
      cache.delete(meta.key);
      emit("DELETED", transform(event.object) ?? old.value, old.value);
      return;
    }
    const value = slim(event.object, meta);
    if (value === undefined) {
      // The object no longer qualifies, so for this cache it is gone.
      if (old) {
        cache.delete(meta.key);
        emit("DELETED", old.value, old.value);
      }
      return;
    }
    cache.set(meta.key, { value, resourceVersion: meta.resourceVersion });
    // Our own write coming back is no news: the reconcile that made it has acted on it already,
    // and waking another for it was a reconcile per write with nothing to do.
    const echo = mine?.resourceVersion === meta.resourceVersion && !changed(mine.value, value);
    // A copy newer than this version is what get() answers, and may already have been told
    // (readAfresh): listeners hear it too, so that what they index is never older than it.
    if ((!old || changed(old.value, value)) && !echo)
      emit(old ? "MODIFIED" : "ADDED", written.get(meta.key)?.value ?? value, old?.value);
  };

  let announceTimer: NodeJS.Timeout | undefined;
  /** A watch works: the run of failures, if any, is over. */
  const worked = () => {
    clearTimeout(announceTimer);
    const ended = failures.worked(Date.now());
    if (ended)
      logger.info({ resource, path, ...ended }, "informer recovered: lists and watches work again");
  };
  /** Warns once when the run has lasted past the threshold, whether at a failure or between. */
  const announce = () => {
    const now = Date.now();
    if (!failures.announce(now)) return;
    const h = failures.health(synced, now);
    logger.warn(
      {
        resource,
        path,
        reason: h.reason,
        kind: h.kind,
        failingForMs: now - (h.failingSince ?? now),
        failures: h.failures,
      },
      "informer cannot list and watch; its cache may be stale; retrying with backoff",
    );
  };
  /** Records a failure, says it (at info the first of a run, debug after), and waits. */
  const failed = async (kind: FailureKind, reason: string, message: string, extra: object) => {
    broken = true;
    const first = failures.health(synced, Date.now()).failingSince === undefined;
    const delayMs = failures.failed(kind, reason, Date.now());
    logger[first ? "info" : "debug"]({ ...extra, reason, kind, delayMs }, message);
    announce();
    if (first) {
      clearTimeout(announceTimer);
      announceTimer = setTimeout(announce, failures.untilThreshold(Date.now()) ?? 0);
      announceTimer.unref();
    }
    await sleep(delayMs, undefined, { signal: stopper.signal }).catch(() => {});
  };

  /** One watch connection from resourceVersion; returns why it ended and the last version seen. */
  const watchOnce = async (from: string): Promise<{ end: WatchEnd; resourceVersion: string }> => {
    let resourceVersion = from;
    let eventError: WatchEnd | undefined;
    let settled = false;
    let settleTimer: NodeJS.Timeout | undefined;
    const settle = () => {
      clearTimeout(settleTimer);
      if (settled) return;
      settled = true;
      worked();
    };
    const timeoutSeconds = MIN_WATCH_TIMEOUT_S + Math.floor(Math.random() * MIN_WATCH_TIMEOUT_S);
    const started = performance.now();
    const end = await kubeStream(kubeConfig, {
      path,
      query: {
        watch: "true",
        resourceVersion,
        allowWatchBookmarks: "true",
        timeoutSeconds: String(timeoutSeconds),
        labelSelector,
        fieldSelector,
      },
      signal: AbortSignal.any([
        stopper.signal,
        AbortSignal.timeout(timeoutSeconds * 1000 + WATCH_DEADLINE_MARGIN_MS),
      ]),
      onOpen: () => {
        // The apiserver answers: what failed meanwhile can be tried now. Whether this watch
        // works is known at its first event, or once it has stayed open a while.
        reopened();
        settleTimer = setTimeout(settle, SHORT_WATCH_MS);
      },
      onLine: (line) => {
        let event: WatchEvent;
        try {
          event = JSON.parse(line) as WatchEvent;
        } catch {
          eventError = {
            kind: "failed",
            failure: "bad-answer",
            reason: "watch sent a line that is not JSON",
          };
          return false;
        }
        if (event.type === "ERROR") {
          const status = event.object as
            | { code?: number; reason?: string; message?: string }
            | undefined;
          const reason = `watch ERROR ${status?.code ?? "?"}: ${status?.message ?? "no message"}`;
          eventError =
            status?.code === 410
              ? { kind: "expired", reason }
              : {
                  kind: "failed",
                  failure: classifyFailure({ ...status, causes: statusCauses(status) }),
                  reason,
                };
          return false;
        }
        settle();
        if (event.type === "BOOKMARK") {
          // A bookmark is a bare resourceVersion (no name): where to resume without a relist.
          const rv = (event.object as { metadata?: { resourceVersion?: unknown } } | null)?.metadata
            ?.resourceVersion;
          if (typeof rv === "string") resourceVersion = rv;
          return;
        }
        const meta = rawMeta(event.object);
        if (!meta) {
          logger.warn({ type: event.type }, "watch event without name or resourceVersion; ignored");
          return;
        }
        resourceVersion = meta.resourceVersion;
        if (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED") {
          apply(event, meta);
        } else {
          logger.warn({ type: event.type }, "unknown watch event type; ignored");
        }
      },
    });
    clearTimeout(settleTimer);
    if (stopper.signal.aborted) return { end: { kind: "stopped" }, resourceVersion };
    if (eventError) return { end: eventError, resourceVersion };
    if (end.kind === "ended") {
      if (settled || performance.now() - started >= SHORT_WATCH_MS) return { end, resourceVersion };
      return {
        end: { kind: "failed", failure: "bad-answer", reason: "watch closed at once" },
        resourceVersion,
      };
    }
    const reason = describeFailure(end.failure);
    return {
      end: isGone(end.failure)
        ? { kind: "expired", reason }
        : { kind: "failed", failure: classifyFailure(end.failure), reason },
      resourceVersion,
    };
  };

  const run = async () => {
    let resourceVersion: string | undefined;
    while (!stopper.signal.aborted) {
      if (resourceVersion === undefined) {
        // Never from a resourceVersion: a list without one is read consistently (from etcd, or
        // from a watch cache that has caught up with it), so one the cache is behind of, the
        // cause of a ResourceVersionTooLarge, is not asked for again.
        const listed = await listAll();
        if (!listed.ok) {
          if (listed.aborted) return;
          await failed(listed.failure, listed.reason, "list failed; retrying", {});
          continue;
        }
        replace(listed.entries, listed.resourceVersion);
        resourceVersion = listed.resourceVersion;
        logger.debug({ objects: cache.size, resourceVersion }, "listed");
        if (!synced) {
          synced = true;
          markSynced();
        }
      }
      const watched = await watchOnce(resourceVersion);
      resourceVersion = watched.resourceVersion;
      const { end } = watched;
      switch (end.kind) {
        case "stopped":
          return;
        case "ended":
          break;
        case "expired":
          logger.info({ reason: end.reason, resourceVersion }, "watch expired; relisting");
          resourceVersion = undefined;
          break;
        case "failed":
          if (end.failure === "too-large-resource-version") {
            // The apiserver's watch cache is behind etcd: a watch from this version would fail
            // the same way, so relist (as client-go's reflector does), after the backoff.
            await failed(end.failure, end.reason, "watch cache behind; relisting", {
              resourceVersion,
            });
            resourceVersion = undefined;
          } else {
            await failed(end.failure, end.reason, "watch failed; resuming", { resourceVersion });
          }
          break;
      }
    }
  };

  return {
    start() {
      running ??= run().catch((error: unknown) => {
        logger.error({ err: error }, "informer loop crashed");
      });
      return Promise.race([firstSync, running]);
    },
    async stop() {
      stopper.abort();
      clearTimeout(announceTimer);
      await running;
    },
    get(namespace, name) {
      const key = keyOf(namespace, name);
      return (written.get(key) ?? cache.get(key))?.value;
    },
    list() {
      return Array.from(written.over(cache).values(), (entry) => entry.value);
    },
    remember(raw) {
      const meta = rawMeta(raw);
      const value = meta && transform(raw);
      if (meta && value !== undefined)
        written.remember(
          meta.key,
          { value, resourceVersion: meta.resourceVersion },
          cache.get(meta.key),
        );
    },
    readAfresh,
    onEvent(listener) {
      listeners.push(listener);
    },
    onReconnect(listener) {
      reconnectListeners.push(listener);
    },
    get synced() {
      return synced;
    },
    resource,
    get health() {
      return failures.health(synced, Date.now());
    },
  };
}

/** A collection's path, in one namespace or in all. */
export const scoped = (namespace: string | undefined, group: string, resource: string) =>
  `${group}${namespace ? `/namespaces/${namespace}` : ""}/${resource}`;
