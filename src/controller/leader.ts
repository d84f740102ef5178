import { setTimeout as sleep } from "node:timers/promises";
import { z } from "zod";
import {
  type ApiAccess,
  describeFailure,
  kubeRequest,
  type RequestFailure,
} from "../kube/request.ts";
import type { Logger } from "../observability/logger.ts";

export interface LeaderElectionOptions {
  kubeConfig: ApiAccess;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationMs?: number; // default 15000
  renewDeadlineMs?: number; // default 10000
  retryPeriodMs?: number; // default 2000
  /** How often a held Lease is renewed (default retryPeriodMs); a failed renewal is retried every retryPeriodMs. */
  renewIntervalMs?: number;
  /**
   * When this process first saw the Lease's record unchanged, if it was watching it before this
   * candidacy began (the shard coordinator's Lease cache): a takeover then waits out the lease
   * from that moment instead of a whole lease duration from the first read.
   */
  knownSince?: (spec: LeaseSpec) => number | undefined;
  /** Written on the Lease with every renewal: what the holder tells the others (its shard count). */
  annotations?: Record<string, string>;
  logger: Logger;
  onStartedLeading: () => void;
  /** Leadership was lost (renewals failed past the deadline, or another holder took the lease). */
  onStoppedLeading: () => void;
}

export interface LeaderElection {
  /**
   * Ends the candidacy and, when the Lease names this candidate (leading, or a winning write was
   * in flight), releases it so that a successor takes over at once. isLeader is false before the
   * release is sent. This is the caller's own decision, so onStoppedLeading is not called.
   */
  stop(): Promise<void>;
  readonly isLeader: boolean;
  /**
   * Until when (performance.now()) this holder may act: the renew deadline counted from when the
   * last winning write was sent. It falls at least leaseDuration - renewDeadline before anyone
   * else can take the Lease, and it is 0 while not leading. A caller that checks it before each
   * write needs no timer of its own to stop in time, even when its event loop runs late.
   */
  readonly heldUntil: number;
  /**
   * The Lease won already named this identity, unreleased and untaken since (say its renewals
   * went unanswered to the deadline and nobody took it meanwhile): no other holder came between.
   */
  readonly resumed: boolean;
}

export const LeaseSpec = z.object({
  holderIdentity: z.string().nullish(),
  leaseDurationSeconds: z.number().int().nullish(),
  acquireTime: z.string().nullish(),
  renewTime: z.string().nullish(),
  leaseTransitions: z.number().int().nullish(),
});
export type LeaseSpec = z.infer<typeof LeaseSpec>;
const Lease = z.object({
  metadata: z.object({ resourceVersion: z.string() }),
  spec: LeaseSpec.nullish(),
});

/** The Lease as last read or written, and when (on our monotonic clock) its record last changed. */
interface Observed {
  spec: LeaseSpec;
  resourceVersion: string;
  changedAt: number;
}

type Attempt =
  | { outcome: "acquired" }
  | { outcome: "held"; holder: string }
  /** conflict: another candidate wrote first, the ordinary way to lose a race. */
  | { outcome: "failed"; reason: string; conflict?: boolean };

// Lease times are metav1.MicroTime: RFC 3339 with exactly six fractional digits.
function microTime(date: Date): string {
  return date.toISOString().replace(/\.(\d{3})Z$/, ".$1000Z");
}

function failed(failure: RequestFailure): Attempt {
  if (failure.kind === "aborted") {
    // Stopping returns before anyone reads this, so an abort here is the attempt's own deadline.
    return { outcome: "failed", reason: "no answer before the deadline" };
  }
  const conflict = failure.kind === "status" && failure.status === 409;
  return { outcome: "failed", reason: describeFailure(failure), conflict };
}

/**
 * Leader election on a coordination.k8s.io/v1 Lease with client-go's rules. Expiry is judged by
 * how long the record has gone unchanged as this process saw it, not by the renewTime written
 * by another machine, so clock skew between replicas cannot make two of them lead; every write
 * carries the resourceVersion it was based on, so two candidates cannot both win one record.
 * Once leadership ends this election is over: a caller that wants the Lease again starts another.
 */
export function startLeaderElection(options: LeaderElectionOptions): LeaderElection {
  const { kubeConfig, namespace, name, identity } = options;
  const leaseDurationMs = options.leaseDurationMs ?? 15_000;
  const renewDeadlineMs = options.renewDeadlineMs ?? 10_000;
  const retryPeriodMs = options.retryPeriodMs ?? 2_000;
  const renewIntervalMs = options.renewIntervalMs ?? retryPeriodMs;
  if (
    !(
      leaseDurationMs > renewDeadlineMs &&
      renewDeadlineMs > retryPeriodMs &&
      renewDeadlineMs > renewIntervalMs
    )
  ) {
    throw new Error(
      "leader election needs leaseDuration > renewDeadline > retryPeriod and renewInterval",
    );
  }
  const logger = options.logger.child({ lease: `${namespace}/${name}`, identity });
  const collection = `/apis/coordination.k8s.io/v1/namespaces/${namespace}/leases`;
  const path = `${collection}/${name}`;
  const leaseDurationSeconds = Math.max(1, Math.round(leaseDurationMs / 1000));
  const stopper = new AbortController();
  let observed: Observed | undefined;
  let leading = false;
  // The Lease's record names us by our own write, not yet handed back: true from a winning write's
  // answer, even one that came after stop(), until leadership ends.
  let named = false;
  let resumed = false;
  let renewedAt = 0;

  const observe = (spec: LeaseSpec, resourceVersion: string) => {
    const same =
      observed !== undefined &&
      observed.spec.holderIdentity === spec.holderIdentity &&
      observed.spec.renewTime === spec.renewTime &&
      observed.spec.leaseTransitions === spec.leaseTransitions;
    observed = {
      spec,
      resourceVersion,
      changedAt:
        same && observed
          ? observed.changedAt
          : Math.min(performance.now(), options.knownSince?.(spec) ?? Number.POSITIVE_INFINITY),
    };
  };

  const body = (spec: LeaseSpec, resourceVersion?: string) => ({
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    metadata: {
      name,
      namespace,
      annotations: options.annotations,
      ...(resourceVersion ? { resourceVersion } : {}),
    },
    spec,
  });

  /** Writes spec over the observed Lease; a conflict means someone else wrote first. */
  const write = async (spec: LeaseSpec, deadline: AbortSignal): Promise<Attempt> => {
    const result = await kubeRequest(kubeConfig, {
      method: "PUT",
      path,
      body: body(spec, observed?.resourceVersion),
      signal: deadline,
    });
    if (!result.ok) {
      // Whatever the server now holds, the next attempt must read it before writing again.
      observed = undefined;
      return failed(result.failure);
    }
    const written = Lease.safeParse(result.value);
    if (!written.success)
      return { outcome: "failed", reason: "the Lease written back is malformed" };
    observe(spec, written.data.metadata.resourceVersion);
    return { outcome: "acquired" };
  };

  /**
   * Reads stop at `signal` (stopping, or the deadline); writes only at the deadline: a write once
   * sent may land whatever this process does, so its answer is awaited, and stop() then knows
   * whether the Lease names us and must be handed back.
   */
  const tryAcquireOrRenew = async (
    signal: AbortSignal,
    deadline: AbortSignal,
  ): Promise<Attempt> => {
    const now = microTime(new Date());
    // Renewing a Lease we hold and last wrote needs no read first; a conflict sends us back to
    // reading it.
    if (leading && observed?.spec.holderIdentity === identity) {
      return write({ ...observed.spec, renewTime: now, leaseDurationSeconds }, deadline);
    }
    const read = await kubeRequest(kubeConfig, { path, signal });
    if (!read.ok) {
      if (read.failure.kind !== "status" || read.failure.status !== 404)
        return failed(read.failure);
      resumed = false;
      const spec: LeaseSpec = {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      };
      const created = await kubeRequest(kubeConfig, {
        method: "POST",
        path: collection,
        body: body(spec),
        signal: deadline,
      });
      if (!created.ok) return failed(created.failure);
      const lease = Lease.safeParse(created.value);
      if (!lease.success) return { outcome: "failed", reason: "the Lease created is malformed" };
      observe(spec, lease.data.metadata.resourceVersion);
      return { outcome: "acquired" };
    }
    const lease = Lease.safeParse(read.value);
    if (!lease.success) return { outcome: "failed", reason: "the Lease read is malformed" };
    const current = lease.data.spec ?? {};
    observe(current, lease.data.metadata.resourceVersion);
    const holder = current.holderIdentity ?? "";
    const validForMs = (current.leaseDurationSeconds ?? 0) * 1000;
    const changedAt = observed?.changedAt ?? performance.now();
    if (holder && holder !== identity && performance.now() < changedAt + validForMs) {
      return { outcome: "held", holder };
    }
    const ours = holder === identity;
    resumed = ours;
    return write(
      {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: ours ? (current.acquireTime ?? now) : now,
        renewTime: now,
        leaseTransitions: (current.leaseTransitions ?? 0) + (ours ? 0 : 1),
      },
      deadline,
    );
  };

  const attemptWithin = (ms: number) => {
    const deadline = AbortSignal.timeout(Math.max(1, Math.ceil(ms)));
    return tryAcquireOrRenew(AbortSignal.any([stopper.signal, deadline]), deadline);
  };

  const pause = (ms: number) =>
    sleep(Math.max(0, ms), undefined, { signal: stopper.signal }).catch(() => {});

  /** When the winning write was sent, or undefined when stopped first. */
  const acquire = async (): Promise<number | undefined> => {
    let lastHolder: string | undefined;
    let lastFailure: string | undefined;
    while (!stopper.signal.aborted) {
      const sentAt = performance.now();
      const attempt = await attemptWithin(renewDeadlineMs);
      if (attempt.outcome === "acquired") return sentAt;
      if (stopper.signal.aborted) return undefined;
      if (attempt.outcome === "held" && attempt.holder !== lastHolder) {
        lastHolder = attempt.holder;
        logger.info({ holder: attempt.holder }, "lease is held; waiting as a candidate");
      }
      if (attempt.outcome === "failed") {
        // Warned once a reason: a candidate denied its Lease (RBAC, say) retries every few seconds.
        const repeated = attempt.reason === lastFailure;
        if (!attempt.conflict) lastFailure = attempt.reason;
        logger[attempt.conflict || repeated ? "debug" : "warn"](
          { reason: attempt.reason },
          "could not acquire lease",
        );
      } else lastFailure = undefined;
      // Jittered as client-go does, so that candidates do not retry in lockstep.
      await pause(retryPeriodMs * (1 + Math.random() * 1.2));
    }
    return undefined;
  };

  /** Renews until stopped (returns true) or until leadership is lost (returns false). */
  const renew = async (): Promise<boolean> => {
    // renewedAt is when the last successful write was sent, not when its answer came: the
    // apiserver stored it later than that, so others wait out the lease from later still, and the
    // deadline below falls at least leaseDuration - renewDeadline before any of them can take over.
    let wait = renewIntervalMs;
    while (!stopper.signal.aborted) {
      // Never sleep past the deadline: leading must end by then, before the lease can expire.
      await pause(Math.min(wait, renewedAt + renewDeadlineMs - performance.now()));
      if (stopper.signal.aborted) return true;
      const sentAt = performance.now();
      const attempt = await attemptWithin(renewedAt + renewDeadlineMs - sentAt);
      if (stopper.signal.aborted) return true;
      if (attempt.outcome === "acquired") {
        renewedAt = sentAt;
        wait = renewIntervalMs;
        continue;
      }
      wait = retryPeriodMs;
      if (attempt.outcome === "held") {
        logger.warn({ holder: attempt.holder }, "another candidate holds the lease");
        return false;
      }
      const sinceRenewal = performance.now() - renewedAt;
      if (sinceRenewal >= renewDeadlineMs) {
        logger.warn(
          { reason: attempt.reason, sinceRenewal },
          "could not renew lease before the deadline",
        );
        return false;
      }
      logger.warn({ reason: attempt.reason }, "lease renewal failed; retrying");
    }
    return true;
  };

  /** Hands the Lease back so that a successor need not wait for it to expire. */
  const release = async () => {
    const read = await kubeRequest(kubeConfig, { path, timeoutMs: renewDeadlineMs });
    if (!read.ok) {
      logger.warn({ reason: describeFailure(read.failure) }, "could not read lease to release it");
      return;
    }
    const lease = Lease.safeParse(read.value);
    if (!lease.success || lease.data.spec?.holderIdentity !== identity) return;
    const now = microTime(new Date());
    const released = await kubeRequest(kubeConfig, {
      method: "PUT",
      path,
      timeoutMs: renewDeadlineMs,
      body: body(
        {
          holderIdentity: null,
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: lease.data.spec.leaseTransitions ?? 0,
        },
        lease.data.metadata.resourceVersion,
      ),
    });
    if (released.ok) logger.info("released lease");
    else logger.warn({ reason: describeFailure(released.failure) }, "could not release lease");
  };

  const run = async () => {
    const acquiredAt = await acquire();
    if (acquiredAt === undefined) return;
    named = true;
    // Won as stop() was called: never led, but the Lease is ours to hand back.
    if (stopper.signal.aborted) return;
    renewedAt = acquiredAt;
    leading = true;
    logger.info("acquired lease; leading");
    options.onStartedLeading();
    if (await renew()) return;
    leading = false;
    named = false;
    options.onStoppedLeading();
  };

  const running = run().catch((error: unknown) => {
    leading = false;
    logger.error({ err: error }, "leader election crashed");
    options.onStoppedLeading();
  });

  return {
    async stop() {
      stopper.abort();
      await running;
      leading = false;
      if (!named) return;
      named = false;
      await release();
    },
    get isLeader() {
      return leading;
    },
    get heldUntil() {
      return leading ? renewedAt + renewDeadlineMs : 0;
    },
    get resumed() {
      return leading && resumed;
    },
  };
}
