import type { Logger } from "../observability/logger.ts";

export type ReconcileResult = { requeueAfterMs?: number };

export interface WorkQueueOptions {
  workers: number;
  /** Handles one key; a thrown error or rejected promise retries the key with per-key exponential backoff. */
  handler: (key: string) => Promise<ReconcileResult>;
  baseRetryDelayMs?: number; // default 50
  maxRetryDelayMs?: number; // default 60_000
  logger: Logger;
  now?: () => number; // for tests
  /** Whether a key is this queue's to handle (its shard is held); others are dropped. Default: all. */
  accepts?: (key: string) => boolean;
  /** What a log line about a key names besides the key (a Rollout's namespace and name). */
  logFields?: (key: string) => Record<string, unknown>;
}

// setTimeout fires at once for delays past a signed 32-bit millisecond count, so a far wake-up
// is reached in hops of at most this.
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Due {
  at: number;
  key: string;
  /** Breaks ties between equal due times in the order they were scheduled. */
  seq: number;
}

function before(a: Due, b: Due): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/**
 * A min-heap of wake-ups with lazy deletion: moving a key earlier pushes a new entry and leaves
 * the old one to be skipped when it surfaces, which keeps every operation O(log n).
 */
class DueHeap {
  private readonly items: Due[] = [];

  get size(): number {
    return this.items.length;
  }

  peek(): Due | undefined {
    return this.items[0];
  }

  push(item: Due): void {
    const items = this.items;
    items.push(item);
    let i = items.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(item, items[parent] as Due)) break;
      items[i] = items[parent] as Due;
      i = parent;
    }
    items[i] = item;
  }

  pop(): Due | undefined {
    const items = this.items;
    const top = items[0];
    const last = items.pop();
    if (top === undefined || last === undefined || items.length === 0) return top;
    let i = 0;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= items.length) break;
      const right = left + 1;
      const child =
        right < items.length && before(items[right] as Due, items[left] as Due) ? right : left;
      if (!before(items[child] as Due, last)) break;
      items[i] = items[child] as Due;
      i = child;
    }
    items[i] = last;
    return top;
  }

  clear(): void {
    this.items.length = 0;
  }
}

/**
 * A client-go style work queue: keys are deduplicated, served FIFO (those whose time came
 * first) by a fixed number of workers, never handled by two workers at once (a key added while
 * in flight is handled again afterwards), retried with per-key exponential backoff, and woken
 * later through one timer for the earliest due time, so thousands of pending wake-ups cost one
 * timer and an idle queue none.
 */
export class WorkQueue {
  private readonly handler: (key: string) => Promise<ReconcileResult>;
  private readonly workers: number;
  private readonly baseRetryDelayMs: number;
  private readonly maxRetryDelayMs: number;
  private readonly logger: Logger;
  private readonly now: () => number;
  private readonly accepts: (key: string) => boolean;
  private readonly logFields: (key: string) => Record<string, unknown>;
  /** Waiting keys; a Set keeps insertion order, which is the FIFO order. */
  private readonly waiting = new Set<string>();
  /**
   * Waiting keys whose time came (a pause ending, a retry), served before `waiting`: a step due
   * now is a time promised to a person, while a key woken by an event can wait a moment. When a
   * thousand rollouts step at once, this keeps their steps from queueing behind their events.
   */
  private readonly due = new Set<string>();
  /**
   * Keys that need handling, with the line each waits in (`due` or `waiting`): waiting ones, and
   * in-flight ones added again while in flight, which join their line when the handler returns.
   */
  private readonly dirty = new Map<string, Set<string>>();
  /** Keys being handled, and the handling of each. */
  private readonly inFlight = new Map<string, Promise<void>>();
  private readonly failures = new Map<string, number>();
  /** The due time of each delayed key; heap entries that disagree with it are stale. */
  private readonly dueAt = new Map<string, number>();
  private readonly heap = new DueHeap();
  private seq = 0;
  private timer: NodeJS.Timeout | undefined;
  private timerAt = Number.POSITIVE_INFINITY;
  private started = false;
  private stopped = false;

  constructor(options: WorkQueueOptions) {
    if (!Number.isInteger(options.workers) || options.workers < 1) {
      throw new Error(`WorkQueue needs at least one worker, got ${options.workers}`);
    }
    this.handler = options.handler;
    this.workers = options.workers;
    this.baseRetryDelayMs = options.baseRetryDelayMs ?? 50;
    this.maxRetryDelayMs = options.maxRetryDelayMs ?? 60_000;
    this.logger = options.logger;
    this.now = options.now ?? (() => performance.now());
    this.accepts = options.accepts ?? (() => true);
    this.logFields = options.logFields ?? (() => ({}));
  }

  /** Enqueue now; a key already waiting is not added twice. */
  add(key: string): void {
    this.enqueue(key, this.waiting);
  }

  private enqueue(key: string, into: Set<string>): void {
    if (this.stopped || !this.accepts(key)) return;
    const line = this.dirty.get(key);
    if (line === this.due || line === into) return;
    this.dirty.set(key, into);
    if (line) {
      // Already waiting behind events, and now due: it moves ahead.
      if (this.waiting.delete(key)) this.due.add(key);
      return;
    }
    if (this.inFlight.has(key)) return;
    into.add(key);
    this.pump();
  }

  /** Enqueue after a delay; if the key is already scheduled, the earlier time wins. */
  addAfter(key: string, delayMs: number): void {
    if (this.stopped || !this.accepts(key)) return;
    if (delayMs <= 0) {
      this.enqueue(key, this.due);
      return;
    }
    const at = this.now() + delayMs;
    const current = this.dueAt.get(key);
    if (current !== undefined && current <= at) return;
    this.dueAt.set(key, at);
    this.heap.push({ at, key, seq: this.seq++ });
    this.arm();
  }

  /**
   * Hands out at once every key whose last reconcile failed, its backoff forgotten. For when the
   * cause has gone (the apiserver answers again): a retry delay grown long during an outage would
   * otherwise be waited out in full, and watches that resume bring no event to wake the key when
   * nothing changed meanwhile.
   */
  retryFailed(): void {
    for (const key of this.failures.keys()) {
      // Its retry is this; the entry left in the heap is stale and skipped.
      this.dueAt.delete(key);
      this.enqueue(key, this.due);
    }
    this.failures.clear();
  }

  start(): void {
    if (this.stopped) return;
    this.started = true;
    this.arm();
    this.pump();
  }

  /**
   * Forgets the keys that match (waiting, scheduled, failed) and waits for those in flight to
   * finish: for keys that are no longer this queue's to handle, which `accepts` already refuses.
   */
  async drain(matches: (key: string) => boolean): Promise<void> {
    for (const key of [...this.dirty.keys()]) {
      if (!matches(key)) continue;
      this.dirty.delete(key);
      this.waiting.delete(key);
      this.due.delete(key);
    }
    for (const key of [...this.dueAt.keys()]) if (matches(key)) this.dueAt.delete(key);
    for (const key of [...this.failures.keys()]) if (matches(key)) this.failures.delete(key);
    await Promise.all([...this.inFlight].filter(([key]) => matches(key)).map(([, work]) => work));
  }

  /** Stops taking work, waits for in-flight handlers to finish. */
  async shutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.heap.clear();
    this.dueAt.clear();
    this.waiting.clear();
    this.due.clear();
    while (this.inFlight.size > 0) await Promise.all(this.inFlight.values());
  }

  /** Keys waiting (not counting delayed ones). */
  get depth(): number {
    return this.due.size + this.waiting.size;
  }

  /** Keys scheduled for later. */
  get scheduled(): number {
    return this.dueAt.size;
  }

  private pump(): void {
    if (!this.started || this.stopped) return;
    while (this.inFlight.size < this.workers) {
      const from = this.due.size > 0 ? this.due : this.waiting;
      const key = from.values().next();
      if (key.done) return;
      from.delete(key.value);
      this.dirty.delete(key.value);
      const work = this.process(key.value);
      this.inFlight.set(key.value, work);
    }
  }

  private async process(key: string): Promise<void> {
    let outcome: { ok: true; result: ReconcileResult } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, result: await this.handler(key) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    this.inFlight.delete(key);
    if (outcome.ok) {
      this.failures.delete(key);
      const after = outcome.result.requeueAfterMs;
      if (after !== undefined) this.addAfter(key, after);
    } else {
      const attempt = this.failures.get(key) ?? 0;
      this.failures.set(key, attempt + 1);
      const delayMs = Math.min(this.maxRetryDelayMs, this.baseRetryDelayMs * 2 ** attempt);
      this.logger.warn(
        { err: outcome.error, key, ...this.logFields(key), attempt: attempt + 1, delayMs },
        "reconcile failed; retrying",
      );
      this.addAfter(key, delayMs);
    }
    if (!this.stopped && this.accepts(key)) this.dirty.get(key)?.add(key);
    else this.dirty.delete(key);
    this.pump();
  }

  /** Keeps the one timer set for the earliest live due time. */
  private arm(): void {
    if (!this.started || this.stopped) return;
    const next = this.nextDue();
    if (next === undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
      this.timerAt = Number.POSITIVE_INFINITY;
      return;
    }
    if (this.timer !== undefined && this.timerAt <= next.at) return;
    clearTimeout(this.timer);
    this.timerAt = next.at;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, next.at - this.now()));
    this.timer = setTimeout(() => this.fire(), delay);
  }

  /** The earliest heap entry that is still current, dropping stale ones on the way. */
  private nextDue(): Due | undefined {
    for (let top = this.heap.peek(); top !== undefined; top = this.heap.peek()) {
      if (this.dueAt.get(top.key) === top.at) return top;
      this.heap.pop();
    }
    return undefined;
  }

  private fire(): void {
    this.timer = undefined;
    this.timerAt = Number.POSITIVE_INFINITY;
    const now = this.now();
    for (let next = this.nextDue(); next !== undefined && next.at <= now; next = this.nextDue()) {
      this.heap.pop();
      this.dueAt.delete(next.key);
      this.enqueue(next.key, this.due);
    }
    this.arm();
  }
}
