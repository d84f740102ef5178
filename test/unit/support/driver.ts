import type { Notice, RolloutEvent, UntimedEvent } from "../../../src/machine/context.ts";
import type { Plan } from "../../../src/machine/plan.ts";
import { type RolloutSnapshot, send, start, statePath } from "../../../src/machine/snapshot.ts";
import { desiredOf, phaseOf } from "../../../src/machine/view.ts";
import { routeWrite } from "../../../src/simulate/route.ts";

export const T0 = Date.parse("2026-01-01T00:00:00Z");

export function plan(overrides: Partial<Plan> = {}): Plan {
  return {
    strategy: { kind: "canary" },
    steps: [
      { kind: "setWeight", weight: 20 },
      { kind: "pause", durationMs: 10_000 },
      { kind: "setWeight", weight: 50 },
    ],
    intervalMs: 10_000,
    failureLimit: 2,
    errorLimit: 3,
    inconclusiveLimit: 2,
    deadlineMs: 60_000,
    checks: false,
    preRolloutGate: false,
    confirmPromotionGate: false,
    ...overrides,
  };
}

/** Drives the machine in event time, the way the reconciler would, and keeps what it said. */
export class Driver {
  snapshot: RolloutSnapshot;
  now = T0;
  notices: Notice[] = [];

  constructor(p: Plan = plan()) {
    this.snapshot = start(p, this.now);
  }

  /**
   * Before each event the split has caught up with the last decision, as it would after the
   * reconcile that made it; the decision itself is visible before that.
   */
  send(event: UntimedEvent): this {
    if (desiredOf(this.snapshot).routed) this.routeCatchesUp();
    this.deliver(event);
    // A weight step waits for its weight in effect, which the reconcile that decided it writes
    // in its next round: the step goes on within the same reconcile.
    if (statePath(this.snapshot) === "progressing.weighting") this.routeCatchesUp();
    return this;
  }

  private routeCatchesUp(): void {
    const write = routeWrite(this.snapshot);
    if (write) this.deliver(write);
  }

  private deliver(event: UntimedEvent): this {
    const step = send(this.snapshot, { ...event, now: this.now } as RolloutEvent);
    this.snapshot = step.snapshot;
    this.notices.push(...step.notices);
    return this;
  }

  /** Moves event time on and ticks. */
  advance(ms: number): this {
    this.now += ms;
    return this.send({ type: "TICK" });
  }

  get state() {
    return statePath(this.snapshot);
  }
  get phase() {
    return phaseOf(this.snapshot);
  }
  get desired() {
    return desiredOf(this.snapshot);
  }
  get context() {
    return this.snapshot.context;
  }
  reasons(): string[] {
    return this.notices.map((n) => n.reason);
  }

  /** First sight of a target at revision r1 and its primary becoming ready: a healthy rollout. */
  initialise(revision = "r1"): this {
    return this.send({ type: "TARGET", revision })
      .send({ type: "PRIMARY", revision, ready: true })
      .send({ type: "TRAFFIC", canaryWeight: 0 });
  }

  /** A new revision whose canary comes up ready. */
  newRevision(revision: string): this {
    return this.send({ type: "TARGET", revision }).send({ type: "CANARY", revision, ready: true });
  }

  /** What the reconciler does after a decision: the split and the primary catch up. */
  settle(): this {
    const d = this.desired;
    this.send({ type: "TRAFFIC", canaryWeight: d.canaryWeight });
    if (d.primaryRevision) this.send({ type: "PRIMARY", revision: d.primaryRevision, ready: true });
    return this;
  }
}
