/**
 * Which shards a replica should hold: pure, so that every rule of sharing can be read and tested
 * without Leases, timers or an apiserver. The runtime (shard-leases.ts) feeds it what its Lease
 * cache saw and carries out what it returns.
 */

/**
 * The shard of a Rollout's key ("namespace/name"): 32-bit FNV-1a, so that every replica, of any
 * version, puts a key in the same shard.
 */
export function shardOf(key: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    hash ^= key.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash % shards;
}

/** One Lease of the group as this replica last saw it. */
export interface SeenLease {
  /** Empty when released. */
  holder: string;
  durationMs: number;
  /** When this replica saw its record change (its monotonic clock), or first saw it. */
  changedAt: number;
  /** On a replica's own Lease: the shard count it runs with. */
  shards?: number;
}

/** The annotation on a replica's Lease that tells the others its shard count. */
export const SHARDS_ANNOTATION = "fledge.dev/shards";

/** The Leases' names: one per shard, one per replica announcing itself, and the single leader's. */
export const leaseNames = (group: string) => ({
  shard: (shard: number) => `${group}-shard-${shard}`,
  replica: (identity: string) => `${group}-replica-${dnsLabel(identity)}`,
  leader: group,
});

// A pod name is already a DNS label; a hostname-pid identity may hold anything else.
const dnsLabel = (identity: string) =>
  identity
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 40) || "replica";

export interface ShardWorld {
  group: string;
  shards: number;
  identity: string;
  now: number;
  /** The group's Leases by name. */
  leases: ReadonlyMap<string, SeenLease>;
  /** Shards whose Lease this replica holds. */
  held: ReadonlySet<number>;
  /** Shards this replica is trying to acquire. */
  acquiring: ReadonlySet<number>;
}

export interface ShardPlan {
  /** Replicas alive, this one included. */
  replicas: number;
  /** ceil(shards / replicas). */
  share: number;
  acquire: number[];
  /** Held shards to hand back: more are held than the share. */
  release: number[];
  /** Attempts to give up: the shard went to another replica, or the share is full. */
  abandon: number[];
  /** Replicas' Leases unrenewed so long that their replica is surely gone. */
  forget: string[];
}

/** A replica whose Lease went unrenewed this much longer than its duration has gone for good. */
export const FORGET_AFTER_MS = 5 * 60_000;

const live = (lease: SeenLease | undefined, now: number) =>
  lease !== undefined && lease.holder !== "" && now < lease.changedAt + lease.durationMs;

/**
 * Each replica takes free shards up to its fair share of the live replicas (announced by their
 * own Leases) and hands back those above it, so that K shards on R replicas settle at
 * ceil(K / R) or fewer each; a shard is free when its Lease is missing, released, or unrenewed
 * past its duration.
 *
 * Two ways of splitting must never act side by side, as during a rolling change of K or from a
 * single leader to shards: a key may fall in shards of different numbers. So no shard is taken
 * while the single leader's Lease is held, or while a replica that runs with another count holds
 * a shard; the share counts only the replicas that run with this one's count, so the old
 * replicas take up the slack until the last of them is gone.
 */
export function planShards(world: ShardWorld): ShardPlan {
  const { group, shards, identity, now, leases, held, acquiring } = world;
  const names = leaseNames(group);
  const holders = new Set([identity]);
  const countOf = new Map<string, number | undefined>();
  const forget: string[] = [];
  for (const [name, lease] of leases) {
    if (!name.startsWith(`${group}-replica-`)) continue;
    if (live(lease, now)) {
      countOf.set(lease.holder, lease.shards);
      if (lease.shards === shards || lease.holder === identity) holders.add(lease.holder);
    } else if (
      name !== names.replica(identity) &&
      now > lease.changedAt + lease.durationMs + FORGET_AFTER_MS
    )
      forget.push(name);
  }
  const replicas = holders.size;
  const share = Math.ceil(shards / replicas);
  const leader = leases.get(names.leader);
  const otherCount = [...leases]
    .filter(([name, lease]) => name.startsWith(`${group}-shard-`) && live(lease, now))
    .some(([, lease]) => countOf.has(lease.holder) && countOf.get(lease.holder) !== shards);
  const blocked = (live(leader, now) && leader?.holder !== identity) || otherCount;

  const takenByOther = (shard: number) => {
    const lease = leases.get(names.shard(shard));
    return live(lease, now) && lease?.holder !== identity;
  };
  const abandon = [...acquiring].filter((s) => blocked || takenByOther(s));
  const trying = [...acquiring].filter((s) => !abandon.includes(s));
  // Above the share, pending attempts go first, then the highest held shards.
  let excess = held.size + trying.length - share;
  while (excess > 0 && trying.length > 0) {
    abandon.push(trying.pop() as number);
    excess--;
  }
  const release = excess > 0 ? [...held].sort((a, b) => b - a).slice(0, excess) : [];

  const acquire: number[] = [];
  if (!blocked) {
    // Each replica starts looking at its own place in the ring, so that two that start together
    // do not race for the same shards.
    const start = shardOf(identity, shards);
    for (let i = 0; i < shards && held.size + trying.length + acquire.length < share; i++) {
      const shard = (start + i) % shards;
      if (!held.has(shard) && !acquiring.has(shard) && !takenByOther(shard)) acquire.push(shard);
    }
  }
  return { replicas, share, acquire, release, abandon, forget };
}
