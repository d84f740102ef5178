import type { DeploymentView } from "../kube/deployment.ts";
import type { WatchEventType } from "../kube/informer.ts";
import { LabelIndex } from "../kube/label-index.ts";
import { type App, appOf, type OverlapView, type RolloutRef } from "./overlap.ts";
import type { RolloutObject } from "./rollout-object.ts";

const PRIMARY_SUFFIX = "-primary";

/** The Deployment a Rollout's spec names, read before the spec is parsed (a bad one names none). */
export function targetOf(r: RolloutObject): string | undefined {
  const name = (r.spec as { targetRef?: { name?: unknown } } | undefined)?.targetRef?.name;
  return typeof name === "string" ? name : undefined;
}

export function rolloutRef(r: RolloutObject): RolloutRef | undefined {
  const target = targetOf(r);
  return target === undefined
    ? undefined
    : { name: r.metadata.name, createdAt: r.metadata.creationTimestamp ?? "", target };
}

type Caches = {
  deployment(namespace: string, name: string): DeploymentView | undefined;
  rollout(namespace: string, name: string): RolloutObject | undefined;
};

/**
 * The Deployments and Rollouts of each namespace, indexed by what a Rollout's judgement reads:
 * Rollouts by the Deployment they target, Deployments by their pods' labels and by their
 * selectors (and the primary's each would have). Fed by the informers' events, it answers which
 * Rollouts a change may concern, so that a problem clears on the event that ends its cause, and
 * an idle cluster costs nothing.
 */
export class Apps {
  private readonly caches: Caches;
  private readonly pods = new LabelIndex();
  private readonly selectors = new LabelIndex();
  private readonly byTarget = new Map<string, Set<string>>();

  constructor(caches: Caches) {
    this.caches = caches;
  }

  isTarget(namespace: string, name: string): boolean {
    return this.targeting(namespace, name).length > 0;
  }

  /** Takes a Deployment's change; returns the keys of the Rollouts whose judgement it may change. */
  deploymentChanged(type: WatchEventType, d: DeploymentView, old: DeploymentView | undefined) {
    const { namespace, name } = d.metadata;
    if (type === "DELETED") {
      this.pods.delete(namespace, name);
      this.selectors.delete(namespace, name);
    } else {
      const app = appOf(d);
      this.pods.set(
        namespace,
        name,
        app.pods.map((p) => p.labels),
      );
      this.selectors.set(namespace, name, app.selectors);
    }
    return this.concerned(namespace, [d, ...(old ? [old] : [])]);
  }

  /**
   * Takes a Rollout's change; returns the keys of the other Rollouts whose judgement it may
   * change: a Rollout that appears, goes or changes target changes who owns those Deployments.
   */
  rolloutChanged(type: WatchEventType, r: RolloutObject, old: RolloutObject | undefined) {
    const { namespace, name } = r.metadata;
    const before = old ? targetOf(old) : undefined;
    const after = type === "DELETED" ? undefined : targetOf(r);
    if (before !== undefined) {
      const key = JSON.stringify([namespace, before]);
      this.byTarget.get(key)?.delete(name);
      if (this.byTarget.get(key)?.size === 0) this.byTarget.delete(key);
    }
    if (after !== undefined) {
      const key = JSON.stringify([namespace, after]);
      this.byTarget.set(key, (this.byTarget.get(key) ?? new Set()).add(name));
    }
    if (type === "MODIFIED" && before === after) return [];
    const targets = [before, after].flatMap((t) =>
      t === undefined ? [] : (this.caches.deployment(namespace, t) ?? []),
    );
    return this.concerned(namespace, targets).filter((k) => k !== `${namespace}/${name}`);
  }

  view(namespace: string): OverlapView {
    return {
      deployment: (name) => this.caches.deployment(namespace, name),
      rollout: (name) => {
        const r = this.caches.rollout(namespace, name);
        return r ? rolloutRef(r) : undefined;
      },
      targeting: (deployment) => this.targeting(namespace, deployment),
      near: (app) => this.near(namespace, app),
    };
  }

  private near(namespace: string, app: App): string[] {
    return [
      ...app.selectors.flatMap((s) => this.pods.selectedBy(namespace, s)),
      ...app.pods.flatMap((p) => this.selectors.selecting(namespace, p.labels)),
    ];
  }

  /**
   * The Rollouts that read these Deployments: those targeting each, or a Deployment near it, or
   * whose primary would have its name (a Deployment of that name not theirs is a conflict).
   */
  private concerned(namespace: string, deployments: DeploymentView[]): string[] {
    const names = new Set<string>();
    for (const d of deployments) {
      for (const near of [d.metadata.name, ...this.near(namespace, appOf(d))]) {
        const base = near.endsWith(PRIMARY_SUFFIX) ? near.slice(0, -PRIMARY_SUFFIX.length) : near;
        for (const t of new Set([near, base]))
          for (const r of this.targeting(namespace, t)) names.add(r);
      }
    }
    return [...names].map((r) => `${namespace}/${r}`);
  }

  private targeting(namespace: string, deployment: string): string[] {
    return [...(this.byTarget.get(JSON.stringify([namespace, deployment])) ?? [])];
  }
}
