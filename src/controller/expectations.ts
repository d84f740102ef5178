/**
 * The controller's own writes that its caches have not shown yet. Acting on a cache older than
 * our last write would repeat the write (a second split update, a second scale), so a reconcile
 * waits for the watch to bring its writes back. resourceVersions are etcd revisions: comparing
 * them numerically tells "older than our write" apart. An entry expires, in case the object was
 * deleted and its event is all that will ever come.
 */
export class Expectations {
  private readonly pending = new Map<string, { rv: bigint; until: number }>();
  private readonly ttlMs: number;

  constructor(ttlMs = 10_000) {
    this.ttlMs = ttlMs;
  }

  expect(key: string, resourceVersion: string | undefined, now: number): void {
    const rv = toRv(resourceVersion);
    if (rv !== undefined) this.pending.set(key, { rv, until: now + this.ttlMs });
  }

  /** Whether the cache's copy (at cachedRv) already includes our last write to `key`. */
  caughtUp(key: string, cachedRv: string | undefined, now: number): boolean {
    return this.check(key, cachedRv, now) !== "waiting";
  }

  /** As caughtUp, telling apart a write that never showed in the cache in time ("expired"). */
  check(
    key: string,
    cachedRv: string | undefined,
    now: number,
  ): "caughtUp" | "waiting" | "expired" {
    const want = this.pending.get(key);
    if (!want) return "caughtUp";
    const have = toRv(cachedRv);
    if (have !== undefined && have >= want.rv) {
      this.pending.delete(key);
      return "caughtUp";
    }
    if (now <= want.until) return "waiting";
    this.pending.delete(key);
    return "expired";
  }
}

function toRv(rv: string | undefined): bigint | undefined {
  if (rv === undefined || !/^\d+$/.test(rv)) return undefined;
  return BigInt(rv);
}

export const resourceVersionOf = (obj: unknown): string | undefined =>
  (obj as { metadata?: { resourceVersion?: string } } | undefined)?.metadata?.resourceVersion;
