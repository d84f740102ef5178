import { createInformer } from "../kube/informer.ts";
import { type ApiAccess, describeFailure, kubeRequest } from "../kube/request.ts";
import type { Logger } from "../observability/logger.ts";
import { type LeaderElection, LeaseSpec, startLeaderElection } from "./leader.ts";
import { leaseNames, planShards, type SeenLease, SHARDS_ANNOTATION } from "./shards.ts";

export interface LeaseTiming {
  leaseDurationMs: number;
  renewDeadlineMs: number;
  retryPeriodMs: number;
  renewIntervalMs: number;
}

/**
 * client-go's leader-election periods, but renewed every 5 s rather than every 2 s: a replica
 * holds several Leases, and each renewal is a request. A renewal that fails is retried every
 * 2 s until the 10 s deadline.
 */
export const SHARD_LEASE_TIMING: LeaseTiming = {
  leaseDurationMs: 15_000,
  renewDeadlineMs: 10_000,
  retryPeriodMs: 2_000,
  renewIntervalMs: 5_000,
};

export interface ShardLeasesOptions {
  kubeConfig: ApiAccess;
  /** Where the Leases live (the controller's namespace). */
  namespace: string;
  /** The Leases' common prefix: the single leader's Lease name. */
  group: string;
  identity: string;
  shards: number;
  timing?: LeaseTiming;
  logger: Logger;
  /** The shard's Lease is ours; `heldUntil` says until when (see LeaderElection). */
  onAcquired: (shard: number, lease: Pick<LeaderElection, "heldUntil" | "resumed">) => void;
  /** Before its Lease is handed back: stop acting on the shard's keys, wait for those in flight. */
  onReleasing: (shard: number) => Promise<void>;
  /**
   * A shard's Lease was lost without being handed back (renewals failed to its deadline): its
   * keys may soon be another replica's, so nothing of this replica may act on them any more. The
   * shard is then free to be planned again like any other.
   */
  onLost: (shard: number) => void;
}

export interface ShardLeases {
  /** Lists the group's Leases, announces this replica and starts taking its share. */
  start(): Promise<void>;
  /** Hands back every Lease held; the caller has stopped acting on all keys first. */
  stop(): Promise<void>;
  readonly held: number[];
}

type LeaseView = {
  metadata: {
    name: string;
    namespace?: string;
    resourceVersion: string;
    annotations?: Record<string, string>;
  };
  spec: LeaseSpec;
};

/**
 * Holds this replica's fair share of the shards, one Lease each, beside a Lease of its own that
 * says it is alive. A watch of the group's Leases tells which shards are free and how many
 * replicas share them; planShards decides, and each shard's Lease is taken, renewed and handed
 * back with the leader election's rules (renew deadline shorter than the lease).
 */
export function startShardLeases(options: ShardLeasesOptions): ShardLeases {
  const { kubeConfig, namespace, group, identity, shards } = options;
  const timing = options.timing ?? SHARD_LEASE_TIMING;
  const logger = options.logger.child({ subsystem: "shards", shards });
  const names = leaseNames(group);
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  const seen = new Map<string, SeenLease & { renewTime?: string; resourceVersion: string }>();
  const cache = createInformer<LeaseView>({
    kubeConfig,
    path: collection,
    transform: (raw) => {
      const lease = raw as LeaseView;
      const name = lease.metadata?.name;
      if (name !== names.leader && !name?.startsWith(`${group}-`)) return undefined;
      const spec = LeaseSpec.safeParse(lease.spec ?? {});
      return spec.success ? { metadata: lease.metadata, spec: spec.data } : undefined;
    },
    logger,
  });
  cache.onEvent((type, lease) => {
    const { name, resourceVersion } = lease.metadata;
    if (type === "DELETED") seen.delete(name);
    else
      seen.set(name, {
        holder: lease.spec.holderIdentity ?? "",
        durationMs: (lease.spec.leaseDurationSeconds ?? 0) * 1000,
        renewTime: lease.spec.renewTime ?? undefined,
        changedAt: performance.now(),
        shards: Number(lease.metadata.annotations?.[SHARDS_ANNOTATION]) || undefined,
        resourceVersion,
      });
    schedule();
  });
  // What the cache saw of a record the election is about to read, so a takeover waits out the
  // lease from when this replica first saw it unrenewed.
  const knownSince = (name: string) => (spec: LeaseSpec) => {
    const lease = seen.get(name);
    return lease?.holder === (spec.holderIdentity ?? "") &&
      lease.renewTime === (spec.renewTime ?? undefined)
      ? lease.changedAt
      : undefined;
  };

  const elect = (
    name: string,
    onStartedLeading: () => void,
    onStoppedLeading: () => void,
    annotations?: Record<string, string>,
  ) =>
    startLeaderElection({
      annotations,
      kubeConfig,
      namespace,
      name,
      identity,
      ...timing,
      knownSince: knownSince(name),
      logger,
      onStartedLeading,
      onStoppedLeading,
    });

  type Claim = { election: LeaderElection; leading: boolean };
  const claims = new Map<number, Claim>();
  const releasing = new Set<number>();
  let stopping = false;
  let self: LeaderElection | undefined;
  let lastShare: string | undefined;

  const claim = (shard: number) => {
    const entry: Claim = {
      leading: false,
      election: elect(
        names.shard(shard),
        () => {
          entry.leading = true;
          options.onAcquired(shard, entry.election);
          schedule();
        },
        () => {
          if (claims.get(shard) === entry) claims.delete(shard);
          options.onLost(shard);
          schedule();
        },
      ),
    };
    claims.set(shard, entry);
  };

  // The replica's own Lease only tells the others it is alive (their fair share counts it), so
  // losing it, to an overloaded apiserver say, costs nothing but a new candidacy.
  const announce = () => {
    self = elect(
      names.replica(identity),
      schedule,
      () => {
        if (stopping) return;
        logger.warn("lost this replica's own Lease; announcing it again");
        announce();
      },
      { [SHARDS_ANNOTATION]: String(shards) },
    );
  };

  const release = async (shard: number) => {
    const entry = claims.get(shard);
    if (!entry) return;
    releasing.add(shard);
    try {
      await options.onReleasing(shard);
      await entry.election.stop();
    } finally {
      claims.delete(shard);
      releasing.delete(shard);
      schedule();
    }
  };

  const forget = async (name: string) => {
    const lease = seen.get(name);
    if (!lease) return;
    // Only the version judged gone: a replica that came back meanwhile keeps its Lease.
    const deleted = await kubeRequest(kubeConfig, {
      method: "DELETE",
      path: `${collection}/${name}`,
      body: { preconditions: { resourceVersion: lease.resourceVersion } },
      timeoutMs: timing.renewDeadlineMs,
    });
    if (deleted.ok) logger.info({ lease: name }, "deleted the Lease of a replica long gone");
    else
      logger.debug({ lease: name, reason: describeFailure(deleted.failure) }, "kept a stale Lease");
  };

  const tick = () => {
    if (stopping) return;
    const held = new Set<number>();
    const acquiring = new Set<number>();
    for (const [shard, entry] of claims) {
      if (releasing.has(shard)) continue;
      (entry.leading ? held : acquiring).add(shard);
    }
    const plan = planShards({
      group,
      shards,
      identity,
      now: performance.now(),
      leases: seen,
      held,
      acquiring,
    });
    for (const shard of plan.abandon) {
      const entry = claims.get(shard);
      claims.delete(shard);
      void entry?.election.stop();
    }
    for (const shard of plan.acquire) claim(shard);
    for (const shard of plan.release) void release(shard);
    for (const name of plan.forget) void forget(name);
    const share = `${plan.share}/${plan.replicas}`;
    if (share !== lastShare) {
      lastShare = share;
      logger.info(
        { replicas: plan.replicas, share: plan.share, held: [...held] },
        "replicas changed; taking a fair share of the shards",
      );
    }
  };

  // One plan at a time, as soon as anything is seen to change; the timer finds expiries, which
  // no event announces.
  let pending = false;
  function schedule() {
    if (pending || stopping) return;
    pending = true;
    queueMicrotask(() => {
      pending = false;
      tick();
    });
  }
  let timer: NodeJS.Timeout | undefined;

  return {
    async start() {
      await cache.start();
      announce();
      timer = setInterval(schedule, timing.retryPeriodMs);
      schedule();
    },
    async stop() {
      stopping = true;
      clearInterval(timer);
      await Promise.all([...claims.values()].map((c) => c.election.stop()));
      claims.clear();
      await self?.stop();
      await cache.stop();
    },
    get held() {
      return [...claims].filter(([s, c]) => c.leading && !releasing.has(s)).map(([s]) => s);
    },
  };
}
