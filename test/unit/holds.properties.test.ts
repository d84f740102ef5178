// Issue 11 section 2: whatever makes a plan or a snapshot unusable (a spec an older CRD let
// through, a hand edit of status, a bug), a reconcile holds; it never starts afresh as if the
// target were stable. Random walks of a cluster, a reconcile as the controller takes it up
// (spec parsed, then resume), spec edits and status corruptions: the primary never takes a
// revision that no person released, because every plan here ends in a pause only a person ends.

import { isDeepStrictEqual } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { parseAs } from "../../src/api/parse.ts";
import { RolloutSpec } from "../../src/api/rollout.ts";
import { resume } from "../../src/controller/resume.ts";
import type { RolloutEvent, UntimedEvent } from "../../src/machine/context.ts";
import { persist, type RolloutSnapshot, send } from "../../src/machine/snapshot.ts";
import { desiredOf } from "../../src/machine/view.ts";
import { T0 } from "./support/driver.ts";

const RUNS = 500;

const STEP = fc.oneof(
  fc.record({ setWeight: fc.integer({ min: -5, max: 110 }) }),
  fc.record({ setMirror: fc.integer({ min: -5, max: 110 }) }),
  fc.record({
    pause: fc.record({ duration: fc.constantFrom("5s", "1m", "0s", "500ms", "soon") }),
  }),
  fc.constant({ pause: {} }),
);

/** A spec as a person or an older CRD may leave it: anything, ending in a pause without end. */
const SPEC = fc.record({
  steps: fc.array(STEP, { maxLength: 4 }).map((steps) => [...steps, { pause: {} }]),
  interval: fc.constantFrom("10s", "1s", "0s", "100ms", "often"),
  deadline: fc.constantFrom(600, 0, -1),
});
type SpecShape = typeof SPEC extends fc.Arbitrary<infer T> ? T : never;

const specOf = (s: SpecShape) => ({
  targetRef: { name: "podinfo" },
  service: { port: 9898 },
  steps: s.steps,
  analysis: { interval: s.interval },
  progressDeadlineSeconds: s.deadline,
});

/** Keys every persisted machine must have, of its own and of its context. */
const REQUIRED = ["version", "state", "context"] as const;
const CONTEXT_KEYS = ["plan", "now", "canaryReady", "stepIndex", "canaryWeight", "pauses"];
const CORRUPTION = fc.oneof(
  fc.constant({ kind: "remove-machine" as const }),
  fc.constant({ kind: "remove-status" as const }),
  fc.constant({ kind: "unknown-state" as const }),
  fc.constant({ kind: "not-an-object" as const }),
  fc.record({ kind: fc.constant("drop" as const), key: fc.constantFrom(...REQUIRED) }),
  // null is no value any context field accepts: the snapshot cannot be read.
  fc.record({ kind: fc.constant("null" as const), key: fc.constantFrom(...CONTEXT_KEYS) }),
);
type Corruption = typeof CORRUPTION extends fc.Arbitrary<infer T> ? T : never;

function corrupt(machine: unknown, c: Corruption): { machine?: unknown } | undefined {
  if (c.kind === "remove-status") return undefined;
  if (c.kind === "remove-machine") return {};
  if (c.kind === "not-an-object" || typeof machine !== "object" || machine === null)
    return { machine: "garbage" };
  const copy = structuredClone(machine) as Record<string, Record<string, unknown>>;
  if (c.kind === "unknown-state") copy.state = "progressing.nowhere" as never;
  if (c.kind === "drop") delete copy[c.key];
  if (c.kind === "null" && copy.context) copy.context[c.key] = null;
  return { machine: copy };
}

const OP = fc.oneof(
  { weight: 6, arbitrary: fc.constant({ op: "reconcile" as const }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant("time" as const), ms: fc.nat(20_000) }) },
  { weight: 3, arbitrary: fc.constant({ op: "primaryReady" as const }) },
  { weight: 3, arbitrary: fc.constant({ op: "canaryReady" as const }) },
  { weight: 2, arbitrary: fc.constant({ op: "newRevision" as const }) },
  {
    weight: 1,
    arbitrary: fc.record({
      op: fc.constant("person" as const),
      action: fc.constantFrom("RESUME" as const, "PROMOTE" as const),
    }),
  },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("spec" as const), spec: SPEC }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant("corrupt" as const), how: CORRUPTION }) },
);
type Op = typeof OP extends fc.Arbitrary<infer T> ? T : never;

type World = {
  now: number;
  spec: unknown;
  status: { machine?: unknown } | undefined;
  target: string;
  canaryReady: boolean;
  primary?: { revision: string; ready: boolean };
  /** What the route does, once it exists. */
  traffic?: { canaryWeight: number; mirrorPercent: number };
  person?: "RESUME" | "PROMOTE";
  revisions: number;
  /** Revisions the primary may take: the one it is made from, and each a person's action was taken for. */
  allowed: Set<string>;
};

/** One reconcile as the controller takes it: hold on a spec or status it cannot use, else decide and act. */
function reconcile(w: World): void {
  const spec = parseAs(RolloutSpec, w.spec, "spec");
  if (!spec.ok) return;
  const resumed = resume(spec.value, w.status?.machine, w.now);
  if (!resumed.ok) return;
  // With no primary yet, the target is what serves: the primary is made from it.
  if (!w.primary) w.allowed.add(w.target);
  let s: RolloutSnapshot = resumed.snapshot;
  const feed = (e: UntimedEvent) => {
    s = send(s, { ...e, now: w.now } as RolloutEvent).snapshot;
  };
  if (!isDeepStrictEqual(resumed.plan, s.context.plan)) feed({ type: "SPEC", plan: resumed.plan });
  feed({ type: "TARGET", revision: w.target });
  feed({ type: "CANARY", revision: w.target, ready: w.canaryReady });
  if (w.primary) feed({ type: "PRIMARY", ...w.primary });
  if (w.traffic) feed({ type: "TRAFFIC", ...w.traffic });
  // A person's action is for the rollout the reconcile that takes it sees.
  if (w.person) {
    w.allowed.add(w.target);
    feed({ type: w.person, id: `${w.person}-${w.now}` });
  }
  w.person = undefined;
  feed({ type: "TICK" });
  for (let round = 0; round < 4; round++) {
    const before = s;
    const d = desiredOf(s);
    if (d.primaryRevision && w.primary?.revision !== d.primaryRevision) {
      expect(w.allowed, `the primary took ${d.primaryRevision}`).toContain(d.primaryRevision);
      w.primary = { revision: d.primaryRevision, ready: false };
      feed({ type: "PRIMARY", ...w.primary });
    }
    const wanted = { canaryWeight: d.canaryWeight, mirrorPercent: d.mirrorPercent };
    if (d.routed && !isDeepStrictEqual(w.traffic, wanted)) {
      w.traffic = wanted;
      feed({ type: "TRAFFIC", ...wanted });
    }
    if (s === before) break;
  }
  w.status = { ...w.status, machine: persist(s) };
}

function step(w: World, op: Op): void {
  switch (op.op) {
    case "reconcile":
      reconcile(w);
      return;
    case "time":
      w.now += op.ms;
      return;
    case "primaryReady":
      if (w.primary) w.primary.ready = true;
      return;
    case "canaryReady":
      w.canaryReady = true;
      return;
    case "newRevision":
      w.target = `r${++w.revisions}`;
      w.canaryReady = false;
      return;
    case "person":
      w.person = op.action;
      return;
    case "spec":
      w.spec = specOf(op.spec);
      return;
    case "corrupt":
      w.status = corrupt(w.status?.machine, op.how);
      return;
  }
}

describe("holds over random spec edits and status corruptions", () => {
  it("no revision reaches the primary without a person releasing it past the last pause", () => {
    fc.assert(
      fc.property(SPEC, fc.array(OP, { minLength: 1, maxLength: 80 }), (first, ops) => {
        const w: World = {
          now: T0,
          spec: specOf({ ...first, interval: "10s", deadline: 600 }),
          status: undefined,
          target: "r1",
          canaryReady: true,
          revisions: 1,
          allowed: new Set(),
        };
        for (const op of ops) step(w, op);
      }),
      { numRuns: RUNS },
    );
  });
});
