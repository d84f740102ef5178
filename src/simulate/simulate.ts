import { durationMs } from "../api/common.ts";
import type { Phase } from "../api/rollout.ts";
import {
  ANNOTATIONS,
  ONE_SHOT_ACTIONS,
  type OneShotAction,
  type RolloutSpec,
} from "../api/rollout.ts";
import type { CheckResult, Notice, Outcome, RolloutEvent } from "../machine/context.ts";
import { clusterEvents } from "../machine/observed.ts";
import type { Plan } from "../machine/plan.ts";
import { type RolloutSnapshot, send, start } from "../machine/snapshot.ts";
import { desiredOf, dueWork, phaseOf, stageOf, wakeAt } from "../machine/view.ts";
import { dueEvent } from "./analysis.ts";
import { routeWrite } from "./route.ts";
import type { Action, Scenario } from "./scenario.ts";

/** One line of the timeline; `at` is milliseconds since the new revision appeared. */
export type Entry = { at: number } & (
  | { kind: "event"; type: Notice["type"]; reason: string; message: string }
  | { kind: "check"; n: number; results: CheckResult[] }
  | { kind: "traffic"; canaryWeight: number; mirrorPercent: number }
  | { kind: "action"; action: string }
  | { kind: "phase"; phase: Phase }
);

export type Timeline = {
  entries: Entry[];
  /** Where the rollout rests: promoted (Healthy), Failed, Aborted, or held waiting for a person. */
  end: { at: number; phase: Phase; outcome?: Outcome; held: boolean };
  /** How many reconciles the simulation took. */
  reconciles: number;
};

/** The revisions' names in the timeline's messages: the primary's, and the one rolled out. */
const STABLE = "r1";
const NEW = "r2";

/** The simulated cluster: what the reconciler's writes made of it, with each Deployment's readiness time. */
type World = {
  /** When the canary is ready at the new revision; undefined while scaled to 0. */
  canaryReadyAt: number | undefined;
  primary: { revision: string; readyAt: number };
  traffic: { canaryWeight: number; mirrorPercent: number } | undefined;
  annotations: Record<string, string>;
};

/** Enough reconciles for any plan a person writes; past them the timeline ends where it is (held) rather than hang. */
const MAX_RECONCILES = 100_000;

function applyAction(world: World, a: Action, id: string): string {
  if (a.pause !== undefined) {
    if (a.pause) world.annotations[ANNOTATIONS.pause] = "true";
    else delete world.annotations[ANNOTATIONS.pause];
    return a.pause ? "pause" : "unpause";
  }
  const action = ONE_SHOT_ACTIONS.find((o) => a[o]) as OneShotAction;
  world.annotations[ANNOTATIONS[action]] = id;
  return action;
}

/**
 * Runs the rollout of a new revision in virtual time: the machine the controller runs, fed what a
 * cluster shaped by its own writes would show, with the scenario's readings, readiness delay and
 * people's annotations. Time starts when the new revision appears on the target.
 */
export function simulate(spec: RolloutSpec, plan: Plan, scenario: Scenario): Timeline {
  const readyAfter = durationMs(scenario.readyAfter);
  const actions = scenario.actions
    .map((a, i) => ({ a, at: durationMs(a.at), id: `${i + 1}` }))
    .sort((x, y) => x.at - y.at);
  const entries: Entry[] = [];
  const world: World = {
    canaryReadyAt: 0,
    primary: { revision: STABLE, readyAt: 0 },
    traffic: undefined,
    annotations: {},
  };
  let target = STABLE;
  let snapshot: RolloutSnapshot = start(plan, 0);
  let checks = 0;
  let phase = phaseOf(snapshot);
  let recording = false;
  const note = (entry: Entry) => {
    if (recording) entries.push(entry);
  };
  const feed = (event: RolloutEvent) => {
    const step = send(snapshot, event);
    snapshot = step.snapshot;
    for (const n of step.notices)
      note({ at: event.now, kind: "event", type: n.type, reason: n.reason, message: n.message });
  };

  // One reconcile, in the reconciler's order: observations, the work due, then writes until the
  // cluster shows what the machine wants (each route write observed at once, as there).
  let reconciles = 0;
  const reconcile = (now: number): number[] => {
    reconciles++;
    const rolled: number[] = [];
    const seen = {
      plan,
      target: {
        revision: target,
        ready: world.canaryReadyAt !== undefined && now >= world.canaryReadyAt,
      },
      primary: { revision: world.primary.revision, ready: now >= world.primary.readyAt },
      traffic: world.traffic,
      annotations: world.annotations,
    };
    for (const event of clusterEvents(snapshot.context, seen, now)) feed(event);
    const due = dueWork(snapshot, now);
    if (due) {
      const event = dueEvent(due, spec, scenario, now, now);
      if (event.type === "ANALYSIS")
        note({ at: now, kind: "check", n: ++checks, results: event.results });
      feed(event);
    }
    for (let round = 0; round < 4; round++) {
      const d = desiredOf(snapshot);
      let wrote = false;
      if (d.primaryRevision && d.primaryRevision !== world.primary.revision) {
        world.primary = { revision: d.primaryRevision, readyAt: now + readyAfter };
        rolled.push(world.primary.readyAt);
        wrote = true;
      }
      const route = d.routed ? routeWrite(snapshot) : undefined;
      if (route) {
        world.traffic = {
          canaryWeight: route.canaryWeight,
          mirrorPercent: route.mirrorPercent ?? 0,
        };
        note({ at: now, kind: "traffic", ...world.traffic });
        feed({ ...route, now });
        wrote = true;
      }
      if (!d.canaryScaledUp && world.canaryReadyAt !== undefined) {
        world.canaryReadyAt = undefined;
        wrote = true;
      } else if (d.canaryScaledUp && world.canaryReadyAt === undefined) {
        world.canaryReadyAt = now + readyAfter;
        rolled.push(world.canaryReadyAt);
        wrote = true;
      }
      if (!wrote) break;
    }
    const p = phaseOf(snapshot);
    if (p !== phase) note({ at: now, kind: "phase", phase: p });
    phase = p;
    return rolled;
  };

  // The Rollout first seen beside a target at the stable revision: a primary made and serving.
  reconcile(0);
  reconcile(0);
  recording = true;
  target = NEW;
  world.canaryReadyAt = readyAfter;

  let now = 0;
  let next = 0;
  while (reconciles < MAX_RECONCILES) {
    now = next;
    for (const x of actions.filter((x) => x.at === now))
      note({ at: now, kind: "action", action: applyAction(world, x.a, x.id) });
    // A Deployment this reconcile rolled is watched: its becoming ready, even at once, is news.
    const rolled = reconcile(now);
    const pending = actions.filter((x) => x.at > now).map((x) => x.at);
    const resting = ["healthy", "failed", "aborted"].includes(stageOf(snapshot));
    if (resting && pending.length === 0) break;
    // The controller reconciles again when the machine asks to be woken, when a Deployment it
    // watches changes (here: becomes ready) and when a person annotates the Rollout.
    const times = [
      ...[wakeAt(snapshot), world.canaryReadyAt, world.primary.readyAt, ...pending].filter(
        (t): t is number => t !== undefined && t > now,
      ),
      ...rolled,
    ];
    if (times.length === 0) break;
    next = Math.min(...times);
  }
  const stage = stageOf(snapshot);
  return {
    entries,
    end: {
      at: now,
      phase: phaseOf(snapshot),
      outcome: snapshot.context.outcome,
      held: !["healthy", "failed", "aborted"].includes(stage),
    },
    reconciles,
  };
}
