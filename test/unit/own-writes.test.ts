import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { type Entry, OwnWrites } from "../../src/kube/own-writes.ts";

/**
 * One object in an apiserver, written by us and by others, whose watch brings each version to
 * the cache late (any number of versions behind) and may be replaced by a relist. What a
 * reconcile reads is the cache with our writes over it.
 */
type Op =
  | { kind: "ours" }
  | { kind: "theirs" }
  | { kind: "deleted" }
  | { kind: "deliver"; count: number }
  | { kind: "relist" };

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.constant({ kind: "ours" as const }),
  fc.constant({ kind: "theirs" as const }),
  fc.constant({ kind: "deleted" as const }),
  fc.integer({ min: 1, max: 4 }).map((count) => ({ kind: "deliver" as const, count })),
  fc.constant({ kind: "relist" as const }),
);

const KEY = "ns/a";

describe("our own writes over a lagging cache", () => {
  it("never answers with a version older than our last write, and never goes back", () => {
    fc.assert(
      fc.property(fc.array(op, { maxLength: 60 }), (ops) => {
        let revision = 100;
        // The apiserver's history of the object: each version, or undefined for a deletion.
        const history: { rv: number; entry: Entry<string> | undefined }[] = [];
        let delivered = 0;
        const cache = new Map<string, Entry<string>>();
        const own = new OwnWrites<string>();
        let lastOurs = 0;
        let lastRead = 0;
        const read = () => own.get(KEY) ?? cache.get(KEY);
        const write = (by: string) => {
          revision += 1;
          const entry = { value: `${by}@${revision}`, resourceVersion: String(revision) };
          history.push({ rv: revision, entry });
          return entry;
        };
        for (const o of ops) {
          switch (o.kind) {
            case "ours": {
              const entry = write("ours");
              own.remember(KEY, entry, cache.get(KEY));
              lastOurs = revision;
              break;
            }
            case "theirs":
              write("theirs");
              break;
            case "deleted":
              revision += 1;
              history.push({ rv: revision, entry: undefined });
              break;
            case "deliver":
              for (const { rv, entry } of history.slice(delivered, delivered + o.count)) {
                if (entry) cache.set(KEY, entry);
                else cache.delete(KEY);
                own.reached(KEY, String(rv));
              }
              delivered = Math.min(history.length, delivered + o.count);
              break;
            case "relist": {
              const latest = history[history.length - 1]?.entry;
              const listed = new Map(latest ? [[KEY, latest]] : []);
              cache.clear();
              for (const [k, v] of listed) cache.set(k, v);
              own.listed(listed, String(revision));
              delivered = history.length;
              break;
            }
          }
          const seen = read();
          const seenRv = seen ? Number(seen.resourceVersion) : 0;
          const deletedSince = history.some((h) => h.entry === undefined && h.rv > lastOurs);
          if (!deletedSince) expect(seenRv).toBeGreaterThanOrEqual(lastOurs);
          if (seen) {
            expect(seenRv).toBeGreaterThanOrEqual(lastRead);
            lastRead = seenRv;
          }
          // Once the watch has delivered everything, the answer is the apiserver's.
          if (delivered === history.length)
            expect(seen).toEqual(history[history.length - 1]?.entry);
        }
      }),
      { numRuns: 2000 },
    );
  });

  it("tells the caller which copy the watch brought back, so an echo of our write is known", () => {
    const own = new OwnWrites<string>();
    own.remember(
      KEY,
      { value: "red", resourceVersion: "7" },
      { value: "blue", resourceVersion: "5" },
    );
    expect(own.reached(KEY, "6")).toBeUndefined();
    expect(own.get(KEY)?.value).toBe("red");
    expect(own.reached(KEY, "7")).toEqual({ value: "red", resourceVersion: "7" });
    expect(own.get(KEY)).toBeUndefined();
  });

  it("keeps no copy older than what the cache already has", () => {
    const own = new OwnWrites<string>();
    own.remember(
      KEY,
      { value: "red", resourceVersion: "4" },
      { value: "blue", resourceVersion: "5" },
    );
    expect(own.get(KEY)).toBeUndefined();
  });
});
