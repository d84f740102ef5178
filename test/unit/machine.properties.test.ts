import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { RolloutStatus } from "../../src/api/rollout.ts";
import { rolloutStatus, statusDiffers } from "../../src/controller/status.ts";
import { checkOutcome, type Notice, type RolloutEvent } from "../../src/machine/context.ts";
import type { Plan } from "../../src/machine/plan.ts";
import {
  persist,
  type RolloutSnapshot,
  restore,
  send,
  start,
  statePath,
} from "../../src/machine/snapshot.ts";
import { desiredOf, phaseOf, stageOf } from "../../src/machine/view.ts";
import { T0 } from "./support/driver.ts";
import { candidateEvents, PLANS } from "./support/events.ts";

const RUNS = 1000;

type Transition = {
  prev: RolloutSnapshot;
  event: RolloutEvent;
  next: RolloutSnapshot;
  notices: Notice[];
};

/** A random walk through the machine: each choice picks one of the events possible next. */
const walks = fc.record({
  plan: fc.constantFrom(...PLANS),
  seed: fc.constantFrom("fresh", "healthy", "rolling") as fc.Arbitrary<keyof typeof SEEDS>,
  choices: fc.array(fc.nat(), { minLength: 1, maxLength: 120 }),
});

/**
 * How often each kind of event is picked: the cluster catching up and checks passing are common,
 * a person's actions and new revisions rarer, so walks get deep into rollouts instead of
 * restarting them every few events.
 */
const WEIGHT: Record<RolloutEvent["type"], number> = {
  TICK: 3,
  SPEC: 1,
  TARGET: 2,
  CANARY: 6,
  PRIMARY: 5,
  TRAFFIC: 8,
  ANALYSIS: 5,
  GATE: 4,
  PAUSE: 4,
  RESUME: 4,
  PROMOTE: 1,
  PROMOTE_FULL: 1,
  ABORT: 1,
  RETRY: 2,
};

/** Jumps past the progress deadline end most rollouts they meet, so they come rarely. */
const weightOf = (e: RolloutEvent, s: RolloutSnapshot) =>
  e.type === "TICK" && e.now - s.context.now > s.context.plan.intervalMs ? 1 : WEIGHT[e.type];

function pick(snapshot: RolloutSnapshot, choice: number): RolloutEvent {
  const options = candidateEvents(snapshot);
  const total = options.reduce((sum, e) => sum + weightOf(e, snapshot), 0);
  let rest = choice % total;
  for (const e of options) {
    rest -= weightOf(e, snapshot);
    if (rest < 0) return e;
  }
  throw new Error("unreachable: choice is below the total weight");
}

type Walk = { plan: Plan; seed: keyof typeof SEEDS; choices: number[] };

/** Where walks begin: most start part-way in, so the deep states are visited often. */
const SEEDS = {
  fresh: [],
  healthy: [
    { type: "TARGET", revision: "r1" },
    { type: "PRIMARY", revision: "r1", ready: true },
    { type: "TRAFFIC", canaryWeight: 0 },
  ],
  rolling: [
    { type: "TARGET", revision: "r1" },
    { type: "PRIMARY", revision: "r1", ready: true },
    { type: "TRAFFIC", canaryWeight: 0 },
    { type: "TARGET", revision: "r2" },
    { type: "CANARY", revision: "r2", ready: true },
    { type: "GATE", gate: "pre-rollout", passed: true },
  ],
} as const;

function walk({ plan, seed, choices }: Walk, check: (t: Transition) => void) {
  let snapshot = start(plan, T0);
  for (const event of SEEDS[seed]) snapshot = send(snapshot, { ...event, now: T0 }).snapshot;
  for (const choice of choices) {
    const event = pick(snapshot, choice);
    const { snapshot: next, notices } = send(snapshot, event);
    check({ prev: snapshot, event, next, notices });
    snapshot = next;
  }
}

const ALL_WEIGHTS = new Set([
  0,
  ...PLANS.flatMap((p) => p.steps.flatMap((s) => (s.kind === "setWeight" ? [s.weight] : []))),
  // A blue/green switch sends all traffic at once.
  ...(PLANS.some((p) => p.strategy.kind === "blueGreen") ? [100] : []),
]);
const inRollout = (s: RolloutSnapshot) => ["progressing", "promoting"].includes(stageOf(s));
const RESTARTS = new Set(["RolloutStarted", "RolloutRestarted", "RetryStarted"]);

describe("properties over random event sequences in event time", () => {
  it("weights always sum to 100 and stay within 0..100 and the steps' values", () => {
    fc.assert(
      fc.property(walks, (w) =>
        walk(w, ({ next }) => {
          const d = desiredOf(next);
          expect(d.canaryWeight + d.primaryWeight).toBe(100);
          expect(d.canaryWeight).toBeGreaterThanOrEqual(0);
          expect(d.canaryWeight).toBeLessThanOrEqual(100);
          expect(ALL_WEIGHTS).toContain(d.canaryWeight);
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it("once a rollback is decided the canary weight only falls, ending at 0 with the stable revision serving", () => {
    fc.assert(
      fc.property(walks, (w) => {
        let rollingBack = false;
        walk(w, ({ prev, next, notices }) => {
          if (notices.some((n) => RESTARTS.has(n.reason)) || stageOf(next) === "healthy")
            rollingBack = false;
          if (inRollout(prev) && ["rollingBack", "failed", "aborted"].includes(stageOf(next)))
            rollingBack = true;
          if (!rollingBack) return;
          expect(desiredOf(next).canaryWeight).toBeLessThanOrEqual(desiredOf(prev).canaryWeight);
          expect(desiredOf(next).canaryWeight).toBe(0);
          expect(desiredOf(next).primaryRevision).toBe(next.context.stableRevision);
          const ended = (s: RolloutSnapshot) => stageOf(s) === "failed" || stageOf(s) === "aborted";
          if (ended(next) && !ended(prev)) {
            expect(next.context.trafficWeight).toBe(0);
            expect(next.context.primaryReadyRevision).toBe(next.context.stableRevision);
          }
        });
      }),
      { numRuns: RUNS },
    );
  });

  it("a paused rollout never changes weight or advances a step while the pause lasts", () => {
    const key = (p: RolloutSnapshot["context"]["pauses"][number]) => `${p.reason}@${p.since}`;
    fc.assert(
      fc.property(walks, (w) =>
        walk(w, ({ prev, next }) => {
          const lasting = new Set(next.context.pauses.map(key));
          const held =
            phaseOf(prev) === "Paused" && prev.context.pauses.some((p) => lasting.has(key(p)));
          if (
            !held ||
            phaseOf(next) !== "Paused" ||
            prev.context.canaryRevision !== next.context.canaryRevision
          )
            return;
          expect(desiredOf(next).canaryWeight).toBe(desiredOf(prev).canaryWeight);
          expect(next.context.stepIndex).toBeLessThanOrEqual(prev.context.stepIndex);
        }),
      ),
      { numRuns: RUNS },
    );
  });

  it("promotion happens only after every step passed or a person promoted", () => {
    fc.assert(
      fc.property(walks, (w) => {
        let passed = new Set<number>();
        let personPromoted = false;
        let specChanged = false;
        walk(w, ({ prev, event, next, notices }) => {
          if (notices.some((n) => RESTARTS.has(n.reason))) {
            passed = new Set();
            personPromoted = false;
            specChanged = false;
          }
          if (event.type === "SPEC") specChanged = true;
          if ((event.type === "PROMOTE" || event.type === "PROMOTE_FULL") && inRollout(prev))
            personPromoted = true;
          const c = prev.context;
          if (
            event.type === "ANALYSIS" &&
            checkOutcome(event.results) === "passed" &&
            statePath(prev) === "progressing.weighting" &&
            c.stepStartedAt !== undefined &&
            event.now - c.stepStartedAt >= c.plan.intervalMs
          ) {
            passed.add(c.stepIndex);
          }
          if (stageOf(next) !== "promoting" || stageOf(prev) === "promoting") return;
          if (personPromoted) return;
          const { plan, stepIndex } = next.context;
          expect(stepIndex).toBeGreaterThanOrEqual(plan.steps.length);
          if (plan.checks && !specChanged) {
            plan.steps.forEach((s, i) => {
              if (s.kind === "setWeight") expect(passed).toContain(i);
            });
          }
        });
      }),
      { numRuns: RUNS },
    );
  });

  it("restored from the last status written and shown the cluster anywhere between that status and now, a machine decides as the one that never stopped", () => {
    // Every reconcile restores the machine from status, and status is not written when only what
    // the machine observed changed (an idle rollout must cost nothing). Status is written before
    // a decision's effects (write-ahead), so a controller that crashed leaves the cluster anywhere
    // between the last status written and what the writes after it made: the next controller may
    // first see any of those states (its caches filling, a watch behind) before the cluster as
    // it is now, and must reach the same decisions as the machine that never stopped.
    const seen = (s: RolloutSnapshot): RolloutEvent[] => {
      const c = s.context;
      const now = c.now;
      return [
        ...(c.targetRevision === undefined
          ? []
          : [
              { type: "TARGET" as const, revision: c.targetRevision, now },
              {
                type: "CANARY" as const,
                revision: c.targetRevision,
                ready: c.targetRevision === c.canaryRevision && c.canaryReady,
                now,
              },
            ]),
        ...(c.primaryRevision === undefined
          ? []
          : [
              {
                type: "PRIMARY" as const,
                revision: c.primaryRevision,
                ready: c.primaryReadyRevision === c.primaryRevision,
                now,
              },
            ]),
        ...(c.trafficWeight === undefined
          ? []
          : [{ type: "TRAFFIC" as const, canaryWeight: c.trafficWeight, now }]),
        { type: "TICK", now },
      ];
    };
    const feed = (s: RolloutSnapshot, events: RolloutEvent[]) => {
      const notices: Notice[] = [];
      for (const e of events) {
        const step = send(s, e);
        s = step.snapshot;
        notices.push(...step.notices);
      }
      return { snapshot: s, notices };
    };
    const statusOf = (s: RolloutSnapshot, previous?: RolloutStatus) =>
      rolloutStatus(s, previous, 1, s.context.now);
    fc.assert(
      fc.property(walks, fc.array(fc.nat(), { minLength: 1 }), (w, cuts) => {
        let written: RolloutStatus | undefined;
        // The snapshots since status was last written: what the cluster showed meanwhile.
        let since: RolloutSnapshot[] = [];
        let step = 0;
        walk(w, ({ prev, event, next }) => {
          written ??= statusOf(prev);
          since.push(prev);
          const between = since[(cuts[step++ % cuts.length] as number) % since.length];
          const restored = restore(JSON.parse(JSON.stringify(written.machine)));
          if (!restored.ok) throw new Error(restored.error);
          const reference = feed(prev, [...seen(prev), event]);
          const early = feed(restored.value, seen(between as RolloutSnapshot));
          const replay = feed(early.snapshot, [...seen(prev), event]);
          expect(statusDiffers(statusOf(reference.snapshot), statusOf(replay.snapshot))).toBe(
            false,
          );
          expect(desiredOf(replay.snapshot)).toEqual(desiredOf(reference.snapshot));
          expect([...early.notices, ...replay.notices]).toEqual(reference.notices);
          const candidate = statusOf(next, written);
          if (statusDiffers(written, candidate)) {
            written = candidate;
            since = [];
          }
        });
      }),
      { numRuns: RUNS },
    );
  });

  it("a machine restored from status at any step behaves exactly like the one that never stopped", () => {
    fc.assert(
      fc.property(walks, (w) =>
        walk(w, ({ prev, event, next, notices }) => {
          const stored = JSON.parse(JSON.stringify(persist(prev)));
          const restored = restore(stored);
          if (!restored.ok) throw new Error(restored.error);
          const replay = send(restored.value, event);
          expect(persist(replay.snapshot)).toEqual(persist(next));
          expect(replay.notices).toEqual(notices);
        }),
      ),
      { numRuns: RUNS },
    );
  });
});
