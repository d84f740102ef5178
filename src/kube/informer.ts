import { setTimeout as sleep } from "node:timers/promises";
import { isDeepStrictEqual } from "node:util";
import type { Logger } from "../observability/logger.ts";
import { type Entry, OwnWrites } from "./own-writes.ts";
import {
  type ApiAccess,
  describeFailure,
  kubeRequest,
  kubeStream,
  type RequestFailure,
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
  | { kind: "failed"; reason: string }
  | { kind: "stopped" };

const MIN_BACKOFF_MS = 100;
// Short, because the watch opening again is how the controller learns that the apiserver is back
// (its failed reconciles are retried then): a restarting apiserver refuses connections, then
// answers 403 and 429 while it loads RBAC and its storage, and a longer wait here made the next
// step come seconds after it was ready. A try a second per informer costs an apiserver little.
const MAX_BACKOFF_MS = 1_000;
// client-go's reflector picks a random watch timeout in [5, 10) minutes so that a fleet of
// informers does not reconnect in step.
const MIN_WATCH_TIMEOUT_S = 300;
// A watch the server has not ended this long after its own timeout is on a dead connection.
const WATCH_DEADLINE_MARGIN_MS = 30_000;
// A watch ending normally sooner than this is treated as a failure, so that a server that
// accepts and closes at once is not hammered.
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
  | { ok: false; failure: RequestFailure };

/**
 * A list+watch cache of one collection, in the manner of client-go's reflector: a paged list,
 * then a watch from the list's resourceVersion, resumed after every disconnect from the last
 * resourceVersion seen (bookmarks included), and re-listed on 410 Gone with the differences
 * emitted as events. Only transformed objects are kept.
 */
export function createInformer<T extends { metadata: { name: string; namespace?: string } }>(
  options: InformerOptions<T>,
): Informer<T> {
  const { kubeConfig, path, labelSelector, fieldSelector, transform } = options;
  const pageSize = options.pageSize ?? 500;
  const logger = options.logger.child({ informer: path, labelSelector });
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
    logger.info("watch open again after failures");
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
        return result;
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
            failure: { kind: "network", message: "list answer has no resourceVersion" },
          };
        }
        return { ok: true, entries, resourceVersion };
      }
    }
  };

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
    if ((!old || changed(old.value, value)) && !echo)
      emit(old ? "MODIFIED" : "ADDED", value, old?.value);
  };

  /** One watch connection from resourceVersion; returns why it ended and the last version seen. */
  const watchOnce = async (
    from: string,
  ): Promise<{ end: WatchEnd; resourceVersion: string; opened: boolean }> => {
    let resourceVersion = from;
    let opened = false;
    let eventError: WatchEnd | undefined;
    const timeoutSeconds = MIN_WATCH_TIMEOUT_S + Math.floor(Math.random() * MIN_WATCH_TIMEOUT_S);
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
        opened = true;
        reopened();
      },
      onLine: (line) => {
        let event: WatchEvent;
        try {
          event = JSON.parse(line) as WatchEvent;
        } catch {
          eventError = { kind: "failed", reason: "watch sent a line that is not JSON" };
          return false;
        }
        if (event.type === "ERROR") {
          const status = event.object as { code?: number; message?: string } | undefined;
          const reason = `watch ERROR ${status?.code ?? "?"}: ${status?.message ?? "no message"}`;
          eventError =
            status?.code === 410 ? { kind: "expired", reason } : { kind: "failed", reason };
          return false;
        }
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
    if (stopper.signal.aborted) return { end: { kind: "stopped" }, resourceVersion, opened };
    if (eventError) return { end: eventError, resourceVersion, opened };
    if (end.kind === "ended") return { end, resourceVersion, opened };
    const reason = describeFailure(end.failure);
    return {
      end: isGone(end.failure) ? { kind: "expired", reason } : { kind: "failed", reason },
      resourceVersion,
      opened,
    };
  };

  const run = async () => {
    let failures = 0;
    const backoff = async () => {
      const delay = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** failures);
      failures += 1;
      await sleep(delay, undefined, { signal: stopper.signal }).catch(() => {});
    };
    let resourceVersion: string | undefined;
    while (!stopper.signal.aborted) {
      if (resourceVersion === undefined) {
        const listed = await listAll();
        if (!listed.ok) {
          if (listed.failure.kind === "aborted") return;
          broken = true;
          logger.warn(
            { reason: describeFailure(listed.failure), failures },
            "list failed; retrying",
          );
          await backoff();
          continue;
        }
        replace(listed.entries, listed.resourceVersion);
        resourceVersion = listed.resourceVersion;
        failures = 0;
        logger.debug({ objects: cache.size, resourceVersion }, "listed");
        if (!synced) {
          synced = true;
          markSynced();
        }
      }
      const started = performance.now();
      const watched = await watchOnce(resourceVersion);
      resourceVersion = watched.resourceVersion;
      const { end } = watched;
      if (watched.opened) failures = 0;
      switch (end.kind) {
        case "stopped":
          return;
        case "ended":
          if (performance.now() - started < SHORT_WATCH_MS) await backoff();
          break;
        case "expired":
          logger.info({ reason: end.reason, resourceVersion }, "watch expired; relisting");
          resourceVersion = undefined;
          break;
        case "failed":
          broken = true;
          logger.warn({ reason: end.reason, resourceVersion, failures }, "watch failed; resuming");
          await backoff();
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
    onEvent(listener) {
      listeners.push(listener);
    },
    onReconnect(listener) {
      reconnectListeners.push(listener);
    },
    get synced() {
      return synced;
    },
  };
}

/** A collection's path, in one namespace or in all. */
export const scoped = (namespace: string | undefined, group: string, resource: string) =>
  `${group}${namespace ? `/namespaces/${namespace}` : ""}/${resource}`;
