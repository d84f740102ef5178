import { AsyncLocalStorage } from "node:async_hooks";

/**
 * The right to act that a piece of work started under: for a reconcile on a sharded replica, its
 * shard's Lease as held when the reconcile began. Once it is gone, the KubeClient sends nothing
 * more for that work and aborts what it has in flight, so a replica that loses a shard stops
 * acting on its Rollouts without stopping the process. A tenure ends for good: holding the shard
 * again is a new tenure, and work begun under the old one (on what it read then) stays fenced.
 */
export interface Fence {
  readonly signal: AbortSignal;
  /** False once the tenure has ended, including when its deadline passed before anyone noticed. */
  holds(): boolean;
}

// The fence travels with the async context rather than through every call from the reconciler
// to the client: every router, writer and status patch a reconcile reaches is then fenced,
// including those written after this.
const current = new AsyncLocalStorage<Fence>();

/** Runs work under a fence (or under none, for the unsharded controller). */
export function underFence<T>(fence: Fence | undefined, work: () => T): T {
  return fence ? current.run(fence, work) : work();
}

/** The fence of the work running now, if any. */
export function currentFence(): Fence | undefined {
  return current.getStore();
}

/**
 * Runs work outside any fence: for what a reconcile hands to a shared sender (its Events), which
 * would otherwise carry that reconcile's fence into other Rollouts' requests.
 */
export function outsideFence<T>(work: () => T): T {
  return current.exit(work);
}
