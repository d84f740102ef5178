import { LABELS, primaryLabels, primaryName } from "../api/names.ts";
import type { DeploymentView } from "../kube/deployment.ts";
import { type Labels, selects } from "../kube/label-index.ts";

/** A Rollout as overlap judges it: its name, when it was made, the Deployment it names. */
export type RolloutRef = { name: string; createdAt: string; target: string };

type Pods = { deployment: string; labels: Labels };

/**
 * What one app is to the Services of another: the selectors Fledge writes for it (the canary
 * Service's, and the primary's, shared by the primary and apex Services), and the pods it runs,
 * its target's and its primary's (made or still to be made from the target).
 */
export type App = { selectors: Labels[]; pods: Pods[] };

/** The app a Deployment is as a Rollout's target; one Fledge cannot route has no selectors. */
export function appOf(target: DeploymentView): App {
  const own: Pods = { deployment: target.metadata.name, labels: target.podLabels };
  const m = target.matchLabels ?? {};
  if (target.hasMatchExpressions || Object.keys(m).length === 0)
    return { selectors: [], pods: [own] };
  const p = primaryLabels(m);
  return {
    selectors: [m, p],
    pods: [own, { deployment: primaryName(target.metadata.name), labels: { ...own.labels, ...p } }],
  };
}

/** What overlap reads of one namespace, from the controller's caches and their indexes. */
export type OverlapView = {
  deployment(name: string): DeploymentView | undefined;
  rollout(name: string): RolloutRef | undefined;
  /** The Rollouts whose spec names the Deployment as target. */
  targeting(deployment: string): string[];
  /**
   * The Deployments whose pods the app's selectors may select or whose selectors may select the
   * app's pods: more than that, never fewer; findOverlap judges each exactly.
   */
  near(app: App): string[];
};

export type Overlap = { reason: "SelectorOverlap"; message: string };

type Hit = { selector: Labels; pods: Pods; mine: boolean };

function crossing(mine: App, theirs: App): Hit | undefined {
  for (const [a, b, isMine] of [
    [mine, theirs, true],
    [theirs, mine, false],
  ] as const) {
    for (const selector of a.selectors) {
      const pods = b.pods.find((p) => selects(selector, p.labels));
      if (pods) return { selector, pods, mine: isMine };
    }
  }
  return undefined;
}

/**
 * Which of two Rollouts came first: one whose primary is made, then the earlier made, then the
 * name. A total order, so of two overlapping Rollouts one always yields, and never a working one
 * to a newcomer of the same second (creation times have seconds only).
 */
function first(a: RolloutRef, b: RolloutRef, view: OverlapView): boolean {
  const made = (r: RolloutRef) =>
    view.deployment(primaryName(r.target))?.metadata.labels[LABELS.rollout] === r.name;
  if (made(a) !== made(b)) return made(a);
  return a.createdAt !== b.createdAt ? a.createdAt < b.createdAt : a.name < b.name;
}

/** The Rollouts a Deployment belongs to: those targeting it, and the one it is the primary of. */
function ownersOf(d: DeploymentView, view: OverlapView): RolloutRef[] {
  const labelled = d.metadata.labels[LABELS.rollout];
  const names = new Set(view.targeting(d.metadata.name));
  const owner = labelled ? view.rollout(labelled) : undefined;
  if (owner && primaryName(owner.target) === d.metadata.name) names.add(owner.name);
  return [...names].flatMap((n) => view.rollout(n) ?? []);
}

const shown = (labels: Labels) =>
  Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(",");

/**
 * Whether the Services and primary a Rollout would have select pods of another app in its
 * namespace, or that app's select its pods. Of two Rollouts the first keeps working and the
 * other is told; a Deployment no Rollout manages cannot yield, so the Rollout is told.
 */
export function findOverlap(
  self: RolloutRef,
  target: DeploymentView,
  view: OverlapView,
): Overlap | undefined {
  const mine = appOf(target);
  const fix = `; give Deployment ${self.target} a selector whose pods no other app's share`;
  for (const name of [...new Set(view.near(mine))].sort()) {
    const d = view.deployment(name);
    if (!d) continue;
    const owners = ownersOf(d, view);
    const others = owners.filter((r) => r.name !== self.name);
    if (others.length === 0) {
      if (owners.length > 0 || name === self.target) continue;
      const hit = crossing(mine, {
        selectors: [],
        pods: [{ deployment: name, labels: d.podLabels }],
      });
      if (hit)
        return overlap(
          `the selector ${shown(hit.selector)} selects the pods of Deployment ${name}, which no Rollout manages${fix}`,
        );
      continue;
    }
    for (const other of others
      .filter((r) => first(r, self, view))
      .sort((a, b) => (first(a, b, view) ? -1 : 1))) {
      if (other.target === self.target)
        return overlap(
          `Rollout ${other.name} came first and already rolls out Deployment ${self.target}`,
        );
      const theirTarget = view.deployment(other.target);
      const theirs = theirTarget
        ? appOf(theirTarget)
        : { selectors: [], pods: [{ deployment: name, labels: d.podLabels }] };
      const hit = crossing(mine, theirs);
      if (!hit) continue;
      const pods = `the pods of Deployment ${hit.pods.deployment}`;
      return overlap(
        hit.mine
          ? `the selector ${shown(hit.selector)} selects ${pods} of Rollout ${other.name}, which came first${fix}`
          : `Rollout ${other.name}, which came first, routes by the selector ${shown(hit.selector)}, and it selects ${pods}${fix}`,
      );
    }
  }
  return undefined;
}

const overlap = (message: string): Overlap => ({ reason: "SelectorOverlap", message });
