import { getAdjacencyMap, getShortestPaths } from "@xstate/graph";
import { describe, expect, it } from "vitest";
import { type AnyTransitionDefinition, createActor } from "xstate";
import { trafficInEffect } from "../../src/machine/context.ts";
import { type MachineInput, rolloutMachine } from "../../src/machine/machine.ts";
import type { RolloutSnapshot } from "../../src/machine/snapshot.ts";
import { T0 } from "./support/driver.ts";
import { candidateEvents, PLANS } from "./support/events.ts";

/**
 * What tells states apart for exploration: the statechart's state and the facts its guards read,
 * without clocks, ids and counts beyond the first, so the graph is finite (about 6,000 states).
 * SPEC events switch between the two plans, so both sides of every plan guard are reachable.
 */
function abstractState(s: RolloutSnapshot): string {
  const c = s.context;
  const rel = (r: string | undefined) =>
    r === undefined
      ? "none"
      : r === c.stableRevision
        ? "stable"
        : r === c.canaryRevision
          ? "canary"
          : "other";
  return JSON.stringify([
    s.value,
    PLANS.indexOf(c.plan),
    rel(c.targetRevision),
    rel(c.primaryReadyRevision),
    c.canaryReady,
    c.trafficWeight === 0,
    // A blue/green switch waits for its weight in effect, which is not 0.
    trafficInEffect(c),
    c.failed > 0,
    c.consecutiveErrors > 0,
    c.pauses.length > 0,
    c.rollbackTo,
  ]);
}

const traversal = {
  input: { plan: PLANS[0], now: T0 } as MachineInput,
  events: (s: RolloutSnapshot) => candidateEvents(s),
  serializeState: (s: RolloutSnapshot) => abstractState(s),
  limit: 1_000_000,
};

function allNodes() {
  const nodes = [rolloutMachine.root];
  for (let i = 0; i < nodes.length; i++) nodes.push(...Object.values(nodes[i]?.states ?? {}));
  return nodes;
}

const describeTransition = (t: AnyTransitionDefinition) =>
  `${t.source.id} --${t.eventType || "always"}${t.guard ? ` [${JSON.stringify(t.guard)}]` : ""}--> ${
    t.target?.map((n) => n.id).join(",") ?? "(stay)"
  }`;

/** Sends one event to an actor resumed at `from`, reporting the statechart's transitions it takes. */
function stepInspected(
  from: RolloutSnapshot,
  event: unknown,
  seen: (t: AnyTransitionDefinition) => void,
) {
  const actor = createActor(rolloutMachine, {
    snapshot: from,
    input: traversal.input,
    inspect: (e) => {
      if (e.type !== "@xstate.microstep") return;
      for (const t of (e as unknown as { _transitions: AnyTransitionDefinition[] })._transitions)
        seen(t);
    },
  });
  actor.start();
  actor.send(event as never);
  const after = actor.getSnapshot();
  actor.stop();
  return after;
}

// Exploring every state with every event takes about 25 s alone, and minutes on a 2-core machine
// busy with the other tiers' control planes: the limit here is for hangs.
const EXPLORATION_MS = 600_000;
describe("model-based: paths generated from the statechart itself", () => {
  it(
    "has a path to every state, and each path replays to where the model says it ends",
    () => {
      const paths = getShortestPaths(rolloutMachine, traversal as never);
      const visited = new Set<string>();
      for (const path of paths) {
        let snapshot = path.steps[0]?.state as RolloutSnapshot;
        for (const step of path.steps.slice(1)) {
          // A state passed through within one event (a choice such as confirmed) counts as reached.
          snapshot = stepInspected(snapshot, step.event, (t) => {
            for (const n of t.target ?? []) visited.add(n.id);
          });
          for (const n of snapshot._nodes) visited.add(n.id);
        }
        expect(abstractState(snapshot)).toBe(abstractState(path.state as RolloutSnapshot));
      }
      const missing = allNodes()
        .map((n) => n.id)
        .filter((id) => id !== "rollout" && !visited.has(id));
      expect(missing).toEqual([]);
    },
    EXPLORATION_MS,
  );

  it(
    "takes every transition of the statechart from some reachable state",
    () => {
      const adjacency = getAdjacencyMap(
        rolloutMachine as never,
        traversal as never,
      ) as unknown as Record<
        string,
        { state: RolloutSnapshot; transitions: Record<string, { event: unknown }> }
      >;
      const taken = new Set<AnyTransitionDefinition>();
      for (const { state, transitions } of Object.values(adjacency)) {
        for (const { event } of Object.values(transitions))
          stepInspected(state as RolloutSnapshot, event, (t) => taken.add(t));
      }
      const all = allNodes().flatMap((n) => [
        ...[...n.transitions.values()].flat(),
        ...(n.always ?? []),
      ]);
      expect(all.length).toBeGreaterThan(40);
      expect(all.filter((t) => !taken.has(t)).map(describeTransition)).toEqual([]);
    },
    EXPLORATION_MS,
  );
});
