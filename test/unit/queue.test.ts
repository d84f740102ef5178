import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  type ReconcileResult,
  WorkQueue,
  type WorkQueueOptions,
} from "../../src/controller/queue.ts";
import { silentLogger } from "../../src/observability/logger.ts";

type Handler = WorkQueueOptions["handler"];

function queue(handler: Handler, options: Partial<WorkQueueOptions> = {}): WorkQueue {
  return new WorkQueue({ workers: 1, handler, logger: silentLogger, ...options });
}

/** A handler call the test finishes by hand, to hold a key in flight. */
interface Held {
  key: string;
  finish(result?: ReconcileResult): void;
  fail(error: Error): void;
}

function holdingHandler(): { handler: Handler; held: Held[] } {
  const held: Held[] = [];
  const handler: Handler = (key) =>
    new Promise((resolve, reject) => {
      held.push({ key, finish: (result = {}) => resolve(result), fail: reject });
    });
  return { handler, held };
}

/** Lets promise callbacks (handler completions and what they trigger) run. */
const settle = () => vi.advanceTimersByTimeAsync(0);

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
});
afterEach(() => {
  vi.useRealTimers();
  vi.restoreAllMocks();
});

describe("adding", () => {
  it("deduplicates keys that are waiting and serves them in FIFO order", async () => {
    const seen: string[] = [];
    const q = queue(async (key) => {
      seen.push(key);
      return {};
    });
    for (const key of ["a", "b", "a", "c", "b", "a"]) q.add(key);
    expect(q.depth).toBe(3);
    q.start();
    await settle();
    expect(seen).toEqual(["a", "b", "c"]);
    expect(q.depth).toBe(0);
    await q.shutdown();
  });

  it("never hands one key to two workers, and handles a key added in flight once more after", async () => {
    const { handler, held } = holdingHandler();
    const q = queue(handler, { workers: 4 });
    q.start();
    q.add("a");
    await settle();
    expect(held.map((h) => h.key)).toEqual(["a"]);

    // Added three times while in flight: one more pass, after the first finishes, not during.
    q.add("a");
    q.add("a");
    q.add("a");
    q.add("b");
    await settle();
    expect(held.map((h) => h.key)).toEqual(["a", "b"]);
    expect(q.depth).toBe(0);

    held[0]?.finish();
    await settle();
    expect(held.map((h) => h.key)).toEqual(["a", "b", "a"]);
    held[1]?.finish();
    held[2]?.finish();
    await settle();
    expect(held).toHaveLength(3);
    await q.shutdown();
  });

  it("runs at most `workers` handlers at once", async () => {
    const { handler, held } = holdingHandler();
    const q = queue(handler, { workers: 2 });
    q.start();
    for (const key of ["a", "b", "c", "d"]) q.add(key);
    await settle();
    expect(held.map((h) => h.key)).toEqual(["a", "b"]);
    expect(q.depth).toBe(2);
    held[1]?.finish();
    await settle();
    expect(held.map((h) => h.key)).toEqual(["a", "b", "c"]);
    for (const h of held) h.finish();
    await settle();
    held[3]?.finish();
    await q.shutdown();
  });
});

describe("retries", () => {
  it("backs off base*2^n per key, capped, and a success resets the backoff", async () => {
    const calls: number[] = [];
    let failuresLeft = 5;
    const q = queue(
      async () => {
        calls.push(Date.now());
        if (failuresLeft-- > 0) throw new Error("apiserver said no");
        return {};
      },
      { baseRetryDelayMs: 100, maxRetryDelayMs: 1000, now: () => Date.now() },
    );
    q.start();
    const t0 = Date.now();
    q.add("a");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls.map((t) => t - t0)).toEqual([0, 100, 300, 700, 1500, 2500]);

    // After the success, the next failure starts again from the base delay.
    calls.length = 0;
    failuresLeft = 1;
    const t1 = Date.now();
    q.add("a");
    await vi.advanceTimersByTimeAsync(10_000);
    expect(calls.map((t) => t - t1)).toEqual([0, 100]);
    await q.shutdown();
  });

  it("keeps backoff apart per key", async () => {
    const calls: string[] = [];
    const q = queue(
      async (key) => {
        calls.push(`${key}@${Date.now()}`);
        if (key === "bad") throw new Error("broken");
        return {};
      },
      { baseRetryDelayMs: 100, now: () => Date.now() },
    );
    q.start();
    q.add("bad");
    q.add("good");
    await vi.advanceTimersByTimeAsync(350);
    expect(calls).toEqual(["bad@0", "good@0", "bad@100", "bad@300"]);
    await q.shutdown();
  });

  it("retries failed keys at once when told the cause is gone, their backoff reset, and leaves the others", async () => {
    const calls: string[] = [];
    let down = true;
    const q = queue(
      async (key) => {
        calls.push(`${key}@${Date.now()}`);
        if (key === "failing" && down) throw new Error("connection refused");
        return key === "waiting" ? { requeueAfterMs: 60_000 } : {};
      },
      { baseRetryDelayMs: 100, now: () => Date.now() },
    );
    q.start();
    q.add("failing");
    q.add("waiting");
    q.add("fine");
    // Attempts at 0, 100, 300, 700, 1500, 3100, 6300: the next would come at 12700.
    await vi.advanceTimersByTimeAsync(7000);
    expect(calls.filter((c) => c.startsWith("failing@"))).toHaveLength(7);
    calls.length = 0;

    down = false;
    q.retryFailed();
    await settle();
    expect(calls).toEqual(["failing@7000"]);
    // The retry it replaced does not come as well; the other key keeps its own time.
    await vi.advanceTimersByTimeAsync(20_000);
    expect(calls).toEqual(["failing@7000"]);
    await vi.advanceTimersByTimeAsync(33_000);
    expect(calls).toEqual(["failing@7000", "waiting@60000"]);

    // Told too early, a key fails once more and is retried after the base delay, not 800 ms.
    calls.length = 0;
    down = true;
    q.add("failing");
    await vi.advanceTimersByTimeAsync(350);
    expect(calls).toEqual(["failing@60000", "failing@60100", "failing@60300"]);
    q.retryFailed();
    await settle();
    down = false;
    await vi.advanceTimersByTimeAsync(2000);
    expect(calls.slice(3)).toEqual(["failing@60350", "failing@60450"]);

    // With nothing failed, there is nothing to do.
    calls.length = 0;
    q.retryFailed();
    await settle();
    expect(calls).toEqual([]);
    await q.shutdown();
  });

  it("schedules a key again when the handler asks for it", async () => {
    const calls: number[] = [];
    const q = queue(
      async () => {
        calls.push(Date.now());
        return calls.length < 3 ? { requeueAfterMs: 1000 } : {};
      },
      { now: () => Date.now() },
    );
    q.start();
    q.add("a");
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toEqual([0, 1000, 2000]);
    expect(q.scheduled).toBe(0);
    await q.shutdown();
  });
});

describe("delayed keys", () => {
  it("keeps the earlier time when a key is scheduled twice", async () => {
    const calls: string[] = [];
    const q = queue(
      async (key) => {
        calls.push(`${key}@${Date.now()}`);
        return {};
      },
      { now: () => Date.now() },
    );
    q.start();
    q.addAfter("a", 500);
    q.addAfter("a", 2000); // later: ignored
    q.addAfter("b", 2000);
    q.addAfter("b", 300); // earlier: wins
    expect(q.scheduled).toBe(2);
    expect(q.depth).toBe(0);
    await vi.advanceTimersByTimeAsync(5000);
    expect(calls).toEqual(["b@300", "a@500"]);
    expect(q.scheduled).toBe(0);
    await q.shutdown();
  });

  it("holds thousands of wake-ups with one timer and serves them in due order", async () => {
    const setTimeoutSpy = vi.spyOn(globalThis, "setTimeout");
    const served: number[] = [];
    const q = queue(
      async (key) => {
        served.push(Number(key));
        return {};
      },
      { workers: 8, now: () => Date.now() },
    );
    q.start();
    const count = 5000;
    // Increasing due times: no new key is earlier than the armed timer, so it is never re-armed.
    for (let i = 0; i < count; i++) q.addAfter(String(i), 1000 + i);
    expect(q.scheduled).toBe(count);
    expect(vi.getTimerCount()).toBe(1);
    expect(setTimeoutSpy).toHaveBeenCalledTimes(1);

    // Random due times re-arm the timer at most when a key becomes the earliest, never one each.
    for (let i = count; i < 2 * count; i++)
      q.addAfter(String(i), Math.floor(Math.random() * 60_000) + 1);
    expect(vi.getTimerCount()).toBe(1);
    expect(setTimeoutSpy.mock.calls.length).toBeLessThan(50);

    await vi.advanceTimersByTimeAsync(61_000);
    expect(served).toHaveLength(2 * count);
    expect(q.scheduled).toBe(0);
    // Idle: nothing pending costs nothing.
    expect(vi.getTimerCount()).toBe(0);
    await q.shutdown();
  });

  it("serves keys whose time came before keys woken by events, moving a waiting one ahead", async () => {
    const { handler, held } = holdingHandler();
    const q = queue(handler, { now: () => Date.now() });
    q.start();
    q.add("busy");
    q.addAfter("b", 100);
    q.addAfter("c", 100);
    for (const key of ["e1", "c", "e2"]) q.add(key);
    await vi.advanceTimersByTimeAsync(200);
    expect(q.depth).toBe(4);
    for (let i = 0; i < 5; i++) {
      held[i]?.finish();
      await settle();
    }
    expect(held.map((h) => h.key)).toEqual(["busy", "b", "c", "e1", "e2"]);
    await q.shutdown();
  });

  it("keeps a key due when its time comes while it is in flight", async () => {
    const { handler, held } = holdingHandler();
    const q = queue(handler, { now: () => Date.now() });
    q.start();
    q.add("a");
    q.addAfter("a", 100);
    await vi.advanceTimersByTimeAsync(200);
    q.add("e1");
    held[0]?.finish();
    await settle();
    expect(held.map((h) => h.key)).toEqual(["a", "a"]);
    held[1]?.finish();
    await settle();
    expect(held.map((h) => h.key)).toEqual(["a", "a", "e1"]);
    held[2]?.finish();
    await q.shutdown();
  });

  it("uses the monotonic clock by default", async () => {
    const calls: number[] = [];
    const q = queue(async () => {
      calls.push(Date.now());
      return {};
    });
    q.start();
    q.addAfter("a", 250);
    await vi.advanceTimersByTimeAsync(249);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([250]);
    await q.shutdown();
  });

  it("reaches a wake-up beyond setTimeout's range in hops", async () => {
    const calls: number[] = [];
    const q = queue(
      async () => {
        calls.push(Date.now());
        return {};
      },
      { now: () => Date.now() },
    );
    q.start();
    const thirtyDays = 30 * 24 * 3600 * 1000;
    q.addAfter("a", thirtyDays);
    await vi.advanceTimersByTimeAsync(thirtyDays - 1);
    expect(calls).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(calls).toEqual([thirtyDays]);
    await q.shutdown();
  });
});

describe("shutdown", () => {
  it("waits for in-flight handlers, then takes no more work", async () => {
    const { handler, held } = holdingHandler();
    const q = queue(handler, { workers: 2 });
    q.start();
    q.add("a");
    q.add("b");
    q.add("c");
    q.addAfter("d", 100);
    await settle();
    let done = false;
    const stopping = q.shutdown().then(() => {
      done = true;
    });
    await settle();
    expect(done).toBe(false);
    held[0]?.finish({ requeueAfterMs: 10 });
    await settle();
    expect(done).toBe(false);
    held[1]?.fail(new Error("late failure"));
    await stopping;
    expect(done).toBe(true);

    q.add("e");
    await vi.advanceTimersByTimeAsync(1000);
    expect(held.map((h) => h.key)).toEqual(["a", "b"]);
    expect(q.depth).toBe(0);
    expect(q.scheduled).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it("hands out only the keys it accepts, and drains a shard: forgets its keys and waits for the one in flight", async () => {
    const { handler, held } = holdingHandler();
    const owned = new Set(["x"]);
    const q = queue(handler, { workers: 2, accepts: (key) => owned.has(key.split("/")[0] ?? "") });
    q.start();
    q.add("y/1");
    q.add("x/1");
    q.addAfter("x/2", 100);
    await settle();
    expect(held.map((h) => h.key)).toEqual(["x/1"]);

    q.add("x/1"); // dirty while in flight: would run again afterwards
    owned.delete("x");
    let drained = false;
    const draining = q
      .drain((key) => key.startsWith("x/"))
      .then(() => {
        drained = true;
      });
    await settle();
    expect(drained).toBe(false);
    expect(q.scheduled).toBe(0);
    held[0]?.finish({ requeueAfterMs: 10 });
    await draining;
    await vi.advanceTimersByTimeAsync(1000);
    expect(held.map((h) => h.key)).toEqual(["x/1"]);
    expect([q.depth, q.scheduled]).toEqual([0, 0]);

    owned.add("x");
    q.add("x/3");
    await settle();
    expect(held.map((h) => h.key)).toEqual(["x/1", "x/3"]);
  });
});
