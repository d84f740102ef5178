import type { WatchEventType } from "../kube/informer.ts";
import { autoscalerOf, type RolloutObject } from "./rollout-object.ts";

/**
 * Which Rollouts name each object of one kind, fed by the Rollouts' events, so that an event of
 * that object wakes just those with no scan of every Rollout. `refsOf` says which objects a
 * Rollout names, as keys the caller looks up with `of`.
 */
export class RolloutRefs {
  private readonly users = new Map<string, Set<string>>();
  private readonly named = new Map<string, string[]>();
  private readonly refsOf: (r: RolloutObject) => string[];

  constructor(refsOf: (r: RolloutObject) => string[]) {
    this.refsOf = refsOf;
  }

  rolloutChanged(type: WatchEventType, r: RolloutObject): void {
    const rollout = `${r.metadata.namespace}/${r.metadata.name}`;
    for (const ref of this.named.get(rollout) ?? []) {
      this.users.get(ref)?.delete(rollout);
      if (this.users.get(ref)?.size === 0) this.users.delete(ref);
    }
    const now = type === "DELETED" ? [] : this.refsOf(r);
    if (now.length) this.named.set(rollout, now);
    else this.named.delete(rollout);
    for (const ref of now) this.users.set(ref, (this.users.get(ref) ?? new Set()).add(rollout));
  }

  /** The keys ("namespace/name") of the Rollouts that name this object. */
  of(ref: string): string[] {
    return [...(this.users.get(ref) ?? [])];
  }
}

/** The Rollouts naming each autoscaler (spec.autoscalerRef), keyed "namespace/name". */
export const autoscalerUsers = () =>
  new RolloutRefs((r) => {
    const name = autoscalerOf(r);
    return name === undefined ? [] : [`${r.metadata.namespace}/${name}`];
  });
