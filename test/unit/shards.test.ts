import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FORGET_AFTER_MS,
  leaseNames,
  planShards,
  type SeenLease,
  shardOf,
} from "../../src/controller/shards.ts";

const GROUP = "fledge-controller";
const names = leaseNames(GROUP);
const DURATION = 15_000;

describe("shardOf", () => {
  it("is FNV-1a of the key, so every replica and version agrees", () => {
    // Fixed values: a change of hash would move Rollouts between shards during an upgrade.
    expect(shardOf("shop/checkout", 12)).toBe(shardOf("shop/checkout", 12));
    expect([shardOf("", 1 << 30), shardOf("a", 1 << 30)]).toEqual([
      0x811c9dc5 % (1 << 30),
      0xe40c292c % (1 << 30),
    ]);
  });

  it("spreads keys evenly", () => {
    const counts = new Array(12).fill(0);
    for (let i = 0; i < 12_000; i++) counts[shardOf(`ns-${i % 7}/app-${i}`, 12)]++;
    for (const c of counts) expect(Math.abs(c - 1000)).toBeLessThan(150);
  });
});

/** Leases as one apiserver holds them, seen by every replica at once (no watch lag). */
type World = Map<string, SeenLease>;

function plan(world: World, identity: string, held: Set<number>, now: number, shards: number) {
  return planShards({
    group: GROUP,
    shards,
    identity,
    now,
    leases: world,
    held,
    acquiring: new Set(),
  });
}

/**
 * Replicas take turns planning and carrying out their plans on one set of Leases; a replica's
 * acquisition succeeds only if the Lease is still free when it writes, as with a
 * resourceVersion-checked write.
 */
function settle(
  replicas: string[],
  shards: number,
  world: World,
  heldBy: Map<string, Set<number>>,
) {
  let now = 0;
  for (let round = 0; round < 40; round++) {
    now += 1_000;
    for (const r of replicas)
      world.set(names.replica(r), { holder: r, durationMs: DURATION, changedAt: now, shards });
    for (const r of replicas) {
      const held = heldBy.get(r) ?? new Set<number>();
      heldBy.set(r, held);
      const p = plan(world, r, held, now, shards);
      for (const s of p.release) {
        held.delete(s);
        world.set(names.shard(s), { holder: "", durationMs: 1000, changedAt: now });
      }
      for (const s of p.acquire) {
        const lease = world.get(names.shard(s));
        const free = !lease || lease.holder === "" || now >= lease.changedAt + lease.durationMs;
        expect(lease?.holder === r).toBe(false);
        if (!free) continue;
        held.add(s);
        world.set(names.shard(s), { holder: r, durationMs: DURATION, changedAt: now });
      }
      for (const s of held)
        world.set(names.shard(s), { holder: r, durationMs: DURATION, changedAt: now });
    }
  }
  return now;
}

describe("planShards", () => {
  it("settles K shards on R replicas at a fair share each, every shard held once, whatever the order of arrival", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 6 }),
        fc.integer({ min: 1, max: 6 }),
        (shards, first, more) => {
          const world: World = new Map();
          const heldBy = new Map<string, Set<number>>();
          const early = Array.from({ length: first }, (_, i) => `r${i}`);
          settle(early, shards, world, heldBy);
          const all = [...early, ...Array.from({ length: more }, (_, i) => `late${i}`)];
          settle(all, shards, world, heldBy);
          const share = Math.ceil(shards / all.length);
          const counts = all.map((r) => heldBy.get(r)?.size ?? 0);
          for (const c of counts) expect(c).toBeLessThanOrEqual(share);
          const owners = new Map<number, string>();
          for (const [r, held] of heldBy)
            for (const s of held) {
              expect(owners.has(s)).toBe(false);
              owners.set(s, r);
            }
          expect(owners.size).toBe(shards);
        },
      ),
    );
  });

  it("3 replicas with 12 shards hold 4 each; the survivors of one that dies take its shards once its Leases expire", () => {
    const world: World = new Map();
    const heldBy = new Map<string, Set<number>>();
    const now = settle(["a", "b", "c"], 12, world, heldBy);
    expect(["a", "b", "c"].map((r) => heldBy.get(r)?.size)).toEqual([4, 4, 4]);

    // c stops renewing: until its Leases expire no one takes its shards.
    heldBy.delete("c");
    const before = plan(world, "a", heldBy.get("a") as Set<number>, now + DURATION - 1, 12);
    expect(before.acquire).toEqual([]);
    expect(before.replicas).toBe(3);
    // a and b go on renewing theirs.
    const later = now + DURATION - 1;
    for (const r of ["a", "b"]) {
      world.set(names.replica(r), {
        holder: r,
        durationMs: DURATION,
        changedAt: later,
        shards: 12,
      });
      for (const s of heldBy.get(r) ?? [])
        world.set(names.shard(s), { holder: r, durationMs: DURATION, changedAt: later });
    }
    const after = plan(world, "a", heldBy.get("a") as Set<number>, now + DURATION, 12);
    expect(after.replicas).toBe(2);
    expect(after.share).toBe(6);
    expect(after.acquire).toHaveLength(2);
  });

  it("hands back the highest shards above the share, and gives up attempts first", () => {
    const world: World = new Map([
      [names.replica("a"), { holder: "a", durationMs: DURATION, changedAt: 0, shards: 4 }],
      [names.replica("b"), { holder: "b", durationMs: DURATION, changedAt: 0, shards: 4 }],
    ]);
    const p = planShards({
      group: GROUP,
      shards: 4,
      identity: "a",
      now: 1,
      leases: world,
      held: new Set([0, 1, 3]),
      acquiring: new Set([2]),
    });
    expect(p).toMatchObject({ share: 2, abandon: [2], release: [3], acquire: [] });
  });

  it("during a change of K takes nothing while a replica of the other count holds a shard; the old ones take up the slack", () => {
    const world: World = new Map([
      [names.replica("old"), { holder: "old", durationMs: DURATION, changedAt: 0, shards: 12 }],
      [names.replica("new"), { holder: "new", durationMs: DURATION, changedAt: 0, shards: 16 }],
      [names.shard(0), { holder: "old", durationMs: DURATION, changedAt: 0 }],
    ]);
    const fresh = plan(world, "new", new Set(), 1, 16);
    expect(fresh.acquire).toEqual([]);
    // The old replica counts only those of its own count: alone, it takes all 12.
    const old = plan(world, "old", new Set([0]), 1, 12);
    expect([old.replicas, old.share, old.acquire.length]).toEqual([1, 12, 11]);
    // Once the old one is gone and its Leases expired, the new one takes its share.
    world.delete(names.replica("old"));
    expect(plan(world, "new", new Set(), DURATION, 16).acquire).toHaveLength(16);
  });

  it("takes nothing while a single leader (a replica run without shards) holds its Lease", () => {
    const world: World = new Map([
      [names.leader, { holder: "old", durationMs: DURATION, changedAt: 0 }],
    ]);
    expect(plan(world, "a", new Set(), 1, 4).acquire).toEqual([]);
    expect(plan(world, "a", new Set(), DURATION, 4).acquire).toHaveLength(4);
  });

  it("forgets the Lease of a replica unrenewed long past its duration, never its own", () => {
    const world: World = new Map([
      [names.replica("gone"), { holder: "gone", durationMs: DURATION, changedAt: 0 }],
      [names.replica("a"), { holder: "", durationMs: 1000, changedAt: 0 }],
    ]);
    expect(plan(world, "a", new Set(), DURATION + FORGET_AFTER_MS, 1).forget).toEqual([]);
    expect(plan(world, "a", new Set(), DURATION + FORGET_AFTER_MS + 1, 1).forget).toEqual([
      names.replica("gone"),
    ]);
  });
});
