import type { CheckResult, RolloutEvent, UntimedEvent } from "../../../src/machine/context.ts";
import type { Plan } from "../../../src/machine/plan.ts";
import type { RolloutSnapshot } from "../../../src/machine/snapshot.ts";
import { desiredOf, stageOf } from "../../../src/machine/view.ts";
import { plan } from "./driver.ts";

/** Two plans between which SPEC events switch, so both sides of every plan-dependent guard are reachable. */
export const PLANS: Plan[] = [
  plan({
    steps: [
      { kind: "setWeight", weight: 10 },
      { kind: "pause", durationMs: 10_000 },
      { kind: "analysis", passes: 2 },
      { kind: "setWeight", weight: 50 },
      { kind: "pause" },
    ],
    checks: true,
    errorLimit: 2,
    preRolloutGate: true,
    confirmPromotionGate: true,
  }),
  plan({
    steps: [
      { kind: "setWeight", weight: 30 },
      { kind: "pause", durationMs: 5_000 },
    ],
  }),
  // Blue/green, as planFromSpec makes it without autoPromotion: a preview, a pause, the switch.
  plan({
    strategy: { kind: "blueGreen", scaleDownDelayMs: 5_000 },
    steps: [{ kind: "analysis", passes: 1 }, { kind: "pause" }],
    checks: true,
    confirmPromotionGate: true,
  }),
];

const result = (outcome: CheckResult["outcome"]): CheckResult[] => [
  {
    name: "request-success-rate",
    outcome,
    value: outcome === "failed" ? 80 : 100,
    requests: 100,
    message: outcome,
  },
];

const REVISIONS = ["r1", "r2", "r3"];

/**
 * The events that can happen next, all in event time after the snapshot's clock: what the
 * cluster and the analysis can report and what a person can do. Property tests pick among them
 * at random; the model-based test explores them exhaustively.
 */
export function candidateEvents(snapshot: RolloutSnapshot): RolloutEvent[] {
  const c = snapshot.context;
  const d = desiredOf(snapshot);
  const at = (dt: number, e: UntimedEvent): RolloutEvent =>
    ({ ...e, now: c.now + dt }) as RolloutEvent;
  const id = String(c.now);
  const events: RolloutEvent[] = [
    at(1_000, { type: "TICK" }),
    at(c.plan.intervalMs, { type: "TICK" }),
    at(c.plan.deadlineMs + 1, { type: "TICK" }),
    ...REVISIONS.map((revision) => at(0, { type: "TARGET", revision })),
    at(c.plan.intervalMs, { type: "ANALYSIS", results: result("passed") }),
    at(c.plan.intervalMs, { type: "ANALYSIS", results: result("failed") }),
    at(c.plan.intervalMs, { type: "ANALYSIS", results: result("errored") }),
    at(c.plan.intervalMs, { type: "ANALYSIS", results: result("inconclusive") }),
    at(0, { type: "GATE", gate: "pre-rollout", passed: true }),
    at(0, { type: "GATE", gate: "pre-rollout", passed: false, message: "no" }),
    at(0, { type: "GATE", gate: "pre-rollout", passed: false, errored: true, message: "down" }),
    at(0, { type: "GATE", gate: "confirm-promotion", passed: true }),
    at(0, { type: "GATE", gate: "confirm-promotion", passed: false, message: "no" }),
    at(0, { type: "GATE", gate: "confirm-promotion", passed: false, errored: true, message: "x" }),
    at(0, { type: "PAUSE", paused: true }),
    at(0, { type: "PAUSE", paused: false }),
    at(0, { type: "RESUME", id }),
    at(0, { type: "PROMOTE", id }),
    at(0, { type: "PROMOTE_FULL", id }),
    at(0, { type: "ABORT", id }),
    at(0, { type: "RETRY", id }),
    at(0, { type: "TRAFFIC", canaryWeight: d.canaryWeight }),
    ...PLANS.map((p) => at(0, { type: "SPEC", plan: p })),
  ];
  if (c.canaryRevision) {
    events.push(at(0, { type: "CANARY", revision: c.canaryRevision, ready: true }));
    events.push(at(0, { type: "CANARY", revision: c.canaryRevision, ready: false }));
  }
  // The primary only ever runs what the controller gave it: the desired revision, or during a
  // promotion or its undoing, the one it is moving from or to.
  const moving = ["promoting", "rollingBack"].includes(stageOf(snapshot));
  for (const revision of new Set([d.primaryRevision, moving ? c.canaryRevision : undefined])) {
    if (revision) events.push(at(0, { type: "PRIMARY", revision, ready: true }));
  }
  if (d.primaryRevision)
    events.push(at(0, { type: "PRIMARY", revision: d.primaryRevision, ready: false }));
  return events;
}
