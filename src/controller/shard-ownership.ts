import { setTimeout as sleep } from "node:timers/promises";
import type { Fence } from "../kube/fence.ts";
import type { Informer } from "../kube/informer.ts";
import type { ApiAccess } from "../kube/request.ts";
import type { Logger } from "../observability/logger.ts";
import type { ControllerMetrics } from "../observability/metrics.ts";
import type { LeaderElection } from "./leader.ts";
import type { WorkQueue } from "./queue.ts";
import type { RolloutObject } from "./rollout-object.ts";
import { type LeaseTiming, startShardLeases } from "./shard-leases.ts";
import { shardOf } from "./shards.ts";

export interface ShardOwnershipOptions {
  kubeConfig: ApiAccess;
  leaseNamespace: string;
  group: string;
  identity: string;
  shards: number;
  timing?: LeaseTiming;
  rollouts: Informer<RolloutObject>;
  /** The queue, once built: it asks `accepts` of every key, so it is made after this. */
  queue: () => WorkQueue;
  metrics: ControllerMetrics;
  logger: Logger;
}

export interface ShardOwnership {
  /** Whether the key's shard is held and ready: the queue hands out no other key. */
  accepts(key: string): boolean;
  /** The tenure a reconcile of the key starts under now: undefined when its shard is not ready. */
  fenceOf(key: string): Fence | undefined;
  start(): Promise<void>;
  stop(): Promise<void>;
}

const REFRESH_RETRY_MS = 1_000;

/**
 * Ties the shards' Leases to the work queue: the keys of a shard are handed out only while its
 * Lease is held, and a shard handed back is first drained of reconciles in flight.
 *
 * A shard just taken may have been acted on by its last holder moments ago, later than this
 * replica's watch has shown: a reconcile from that older status would repeat a step. So the
 * Rollouts are listed afresh from the apiserver first (what a restart gives), and the cache
 * answers with those copies until the watch catches up; shards taken together, as at start-up,
 * share their lists. A shard this process lost and won back with no holder between (the Lease
 * still named it) was acted on by nobody else: its keys are queued at once, as if it had been
 * held all along, with no read of its Rollouts.
 *
 * A shard whose Lease is lost unreleased (its renewals went unanswered to the deadline, as under
 * an overloaded apiserver) ends its tenure: reconciles begun under it are fenced (see Fence)
 * and its keys dropped, and the replica goes on with its other shards and may take it again.
 */
export function shardOwnership(options: ShardOwnershipOptions): ShardOwnership {
  const { shards, rollouts, metrics } = options;
  const logger = options.logger.child({ subsystem: "shards" });
  const keyOf = (r: RolloutObject) => `${r.metadata.namespace}/${r.metadata.name}`;
  const keysOf = (shard: number) =>
    rollouts
      .list()
      .map(keyOf)
      .filter((key) => shardOf(key, shards) === shard);
  /** The shards ready to act on, each with the tenure its reconciles run under. */
  const ready = new Map<number, Fence & { end(): void }>();
  /** The take in progress of each shard; a release cancels it by removing the entry. */
  const taking = new Map<number, symbol>();
  /** Shards this process lost unreleased: a take that resumes its own Lease needs no reads. */
  const lostHere = new Set<number>();

  const tenure = (lease: Pick<LeaderElection, "heldUntil">) => {
    const ended = new AbortController();
    return {
      signal: ended.signal,
      holds: () => !ended.signal.aborted && performance.now() < lease.heldUntil,
      end: () => ended.abort(),
    };
  };

  const take = async (shard: number, lease: Pick<LeaderElection, "heldUntil" | "resumed">) => {
    const token = Symbol(String(shard));
    taking.set(shard, token);
    const resumed = lostHere.delete(shard) && lease.resumed;
    const started = performance.now();
    while (!resumed && taking.get(shard) === token) {
      const read = await rollouts.readAfresh();
      if (read.ok) break;
      logger.warn(
        { shard, reason: read.reason },
        "could not list a shard's Rollouts afresh; retrying",
      );
      await sleep(REFRESH_RETRY_MS);
    }
    if (taking.get(shard) !== token) return;
    taking.delete(shard);
    ready.set(shard, tenure(lease));
    metrics.shardsHeld.set(ready.size);
    const keys = keysOf(shard);
    logger.info(
      {
        shard,
        rollouts: keys.length,
        read: resumed ? 0 : keys.length,
        ms: Math.round(performance.now() - started),
      },
      resumed
        ? "took back a shard no one held meanwhile: its Rollouts queued"
        : "took a shard: its Rollouts read afresh and queued",
    );
    for (const key of keys) options.queue().add(key);
  };

  const leases = startShardLeases({
    kubeConfig: options.kubeConfig,
    namespace: options.leaseNamespace,
    group: options.group,
    identity: options.identity,
    shards,
    timing: options.timing,
    // Its own child names the subsystem; this one would name it twice on every line.
    logger: options.logger,
    onAcquired: (shard, lease) => {
      void take(shard, lease);
    },
    onReleasing: async (shard) => {
      taking.delete(shard);
      ready.delete(shard);
      metrics.shardsHeld.set(ready.size);
      await options.queue().drain((key) => shardOf(key, shards) === shard);
      logger.info({ shard }, "handing a shard back: its reconciles in flight are done");
    },
    onLost: (shard) => {
      taking.delete(shard);
      ready.get(shard)?.end();
      ready.delete(shard);
      metrics.shardsHeld.set(ready.size);
      metrics.shardsLost.inc();
      lostHere.add(shard);
      void options.queue().drain((key) => shardOf(key, shards) === shard);
      logger.warn(
        { shard },
        "lost a shard's Lease before handing it back: its reconciles are fenced off; carrying on with the others",
      );
    },
  });

  return {
    accepts: (key) => ready.has(shardOf(key, shards)),
    fenceOf: (key) => ready.get(shardOf(key, shards)),
    start: () => leases.start(),
    async stop() {
      for (const fence of ready.values()) fence.end();
      ready.clear();
      taking.clear();
      await leases.stop();
    },
  };
}
