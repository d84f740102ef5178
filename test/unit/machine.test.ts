import { describe, expect, it } from "vitest";
import type { CheckResult } from "../../src/machine/context.ts";
import { send, statePath } from "../../src/machine/snapshot.ts";
import { steeringEvents } from "../../src/machine/steering.ts";
import { conditionsOf, desiredOf, dueWork, statusOf, wakeAt } from "../../src/machine/view.ts";
import { Driver, plan, T0 } from "./support/driver.ts";

const pass: CheckResult[] = [
  { name: "request-success-rate", outcome: "passed", value: 100, requests: 50 },
];
const fail: CheckResult[] = [
  {
    name: "request-success-rate",
    outcome: "failed",
    value: 87.5,
    requests: 50,
    message: "87.5 < min 99",
  },
];
const error: CheckResult[] = [
  { name: "request-success-rate", outcome: "errored", message: "prometheus unreachable" },
];
const noData: CheckResult[] = [
  { name: "request-success-rate", outcome: "inconclusive", message: "no data" },
];

const withChecks = (overrides = {}) =>
  plan({
    checks: true,
    steps: [
      { kind: "setWeight", weight: 20 },
      { kind: "setWeight", weight: 40 },
    ],
    ...overrides,
  });

describe("initialising", () => {
  it("creates the primary from the target and moves no traffic until it serves", () => {
    const d = new Driver().send({ type: "TARGET", revision: "r1" });
    expect(d.phase).toBe("Initializing");
    expect(d.desired).toMatchObject({ primaryRevision: "r1", routed: false, canaryScaledUp: true });
    d.send({ type: "PRIMARY", revision: "r1", ready: true });
    expect(d.phase).toBe("Healthy");
    expect(d.desired).toMatchObject({ routed: true, canaryWeight: 0, primaryWeight: 100 });
    expect(d.reasons()).toContain("Initialized");
  });

  it("started afresh beside a primary (status lost), takes the primary's revision as stable and rolls the target out as a canary", () => {
    const d = new Driver()
      .send({ type: "TARGET", revision: "r2" })
      .send({ type: "PRIMARY", revision: "r1", ready: false });
    expect(d.phase).toBe("Initializing");
    expect(d.desired.primaryRevision).toBe("r1");
    d.send({ type: "TARGET", revision: "r2" });
    expect(d.desired.primaryRevision).toBe("r1");
    d.send({ type: "PRIMARY", revision: "r1", ready: true });
    expect(d.phase).toBe("Progressing");
    expect(d.snapshot.context).toMatchObject({ stableRevision: "r1", canaryRevision: "r2" });
    expect(d.desired).toMatchObject({ primaryRevision: "r1", canaryWeight: 0 });
  });

  it("scales the target down only after the split is seen sending it nothing", () => {
    const d = new Driver()
      .send({ type: "TARGET", revision: "r1" })
      .send({ type: "PRIMARY", revision: "r1", ready: true });
    expect(d.desired.canaryScaledUp).toBe(true);
    d.send({ type: "TRAFFIC", canaryWeight: 0 });
    expect(d.desired.canaryScaledUp).toBe(false);
  });
});

describe("a rollout through its steps", () => {
  it("waits for the canary, steps the weights, holds the timed pause in event time, promotes", () => {
    const d = new Driver().initialise();
    d.send({ type: "TARGET", revision: "r2" });
    expect(d.phase).toBe("Progressing");
    expect(d.desired).toMatchObject({
      canaryWeight: 0,
      canaryScaledUp: true,
      primaryRevision: "r1",
    });
    d.send({ type: "CANARY", revision: "r2", ready: true });
    // setWeight 20 with no checks passes at once and the pause step holds it.
    expect(d.desired.canaryWeight).toBe(20);
    expect(d.phase).toBe("Paused");
    expect(d.context.pauses).toMatchObject([{ reason: "Step", until: T0 + 10_000 }]);
    expect(wakeAt(d.snapshot)).toBe(T0 + 10_000);
    d.advance(9_999);
    expect(d.desired.canaryWeight).toBe(20);
    d.advance(1);
    expect(d.state).toBe("promoting");
    expect(d.desired).toMatchObject({ primaryRevision: "r2", canaryWeight: 50 });
    d.send({ type: "PRIMARY", revision: "r2", ready: true });
    expect(d.phase).toBe("Healthy");
    expect(d.context.stableRevision).toBe("r2");
    expect(d.desired).toMatchObject({
      canaryWeight: 0,
      primaryRevision: "r2",
      canaryScaledUp: true,
    });
    d.send({ type: "TRAFFIC", canaryWeight: 0 });
    expect(d.desired.canaryScaledUp).toBe(false);
    expect(d.reasons()).toEqual(
      expect.arrayContaining([
        "RolloutStarted",
        "CanaryReady",
        "StepAdvanced",
        "PromotionStarted",
        "Promoted",
      ]),
    );
  });

  it("a weight decided but not in effect holds its step: the pause after it starts once the route shows it", () => {
    const d = new Driver().initialise().send({ type: "TARGET", revision: "r2" });
    // Decided and recorded, then the controller died before writing the split.
    let s = send(d.snapshot, { type: "CANARY", revision: "r2", ready: true, now: T0 }).snapshot;
    expect(statePath(s)).toBe("progressing.weighting");
    expect(s.context).toMatchObject({ canaryWeight: 20, trafficWeight: 0 });
    s = send(s, { type: "TICK", now: T0 + 60_000 }).snapshot;
    expect(statePath(s)).toBe("progressing.weighting");
    s = send(s, { type: "TRAFFIC", canaryWeight: 20, now: T0 + 60_000 }).snapshot;
    expect(statePath(s)).toBe("progressing.pausing");
    expect(s.context.pauses).toMatchObject([{ reason: "Step", until: T0 + 70_000 }]);
  });

  it("a mirror step copies requests to a canary that serves none, until the first weight ends it", () => {
    const mirror = plan({
      checks: true,
      steps: [
        { kind: "setMirror", percent: 50 },
        { kind: "analysis", passes: 1 },
        { kind: "setWeight", weight: 10 },
      ],
    });
    const d = new Driver(mirror).initialise().send({ type: "TARGET", revision: "r2" });
    let s = send(d.snapshot, { type: "CANARY", revision: "r2", ready: true, now: T0 }).snapshot;
    expect(statePath(s)).toBe("progressing.weighting");
    expect(desiredOf(s)).toMatchObject({ canaryWeight: 0, mirrorPercent: 50 });
    // The weight is in effect (0), the mirror not yet: no check judges the canary on nothing.
    expect(dueWork(s, T0 + 60_000)).toBeUndefined();
    s = send(s, { type: "TRAFFIC", canaryWeight: 0, mirrorPercent: 50, now: T0 + 60_000 }).snapshot;
    expect(dueWork(s, T0 + 60_000)).toEqual({ kind: "analysis" });
    expect(statusOf(s).message).toContain("50% of requests mirrored");
    const passed = [{ name: "request-success-rate", outcome: "passed" as const, value: 1 }];
    s = send(s, { type: "ANALYSIS", results: passed, now: T0 + 60_000 }).snapshot;
    s = send(s, { type: "ANALYSIS", results: passed, now: T0 + 70_000 }).snapshot;
    expect(statePath(s)).toBe("progressing.weighting");
    expect(desiredOf(s)).toMatchObject({ canaryWeight: 10, mirrorPercent: 0 });
  });

  it("a check waits for the weight it judges to be in effect", () => {
    const d = new Driver(withChecks()).initialise().send({ type: "TARGET", revision: "r2" });
    let s = send(d.snapshot, { type: "CANARY", revision: "r2", ready: true, now: T0 }).snapshot;
    expect(s.context).toMatchObject({ canaryWeight: 20, trafficWeight: 0 });
    expect(dueWork(s, T0 + 60_000)).toBeUndefined();
    s = send(s, { type: "TRAFFIC", canaryWeight: 20, now: T0 + 60_000 }).snapshot;
    expect(dueWork(s, T0 + 60_000)).toEqual({ kind: "analysis" });
  });

  it("holds every weight until a check at that weight passes", () => {
    const d = new Driver(withChecks()).initialise().newRevision("r2");
    expect(d.desired.canaryWeight).toBe(20);
    expect(dueWork(d.snapshot, d.now)).toBeUndefined();
    d.now += 10_000;
    expect(dueWork(d.snapshot, d.now)).toEqual({ kind: "analysis" });
    d.send({ type: "ANALYSIS", results: pass });
    expect(d.desired.canaryWeight).toBe(40);
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: pass });
    expect(d.state).toBe("promoting");
  });

  it("an analysis step waits for its number of consecutive passes", () => {
    const d = new Driver(withChecks({ steps: [{ kind: "analysis", passes: 2 }] }))
      .initialise()
      .newRevision("r2");
    expect(d.state).toBe("progressing.analysing");
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: pass });
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: noData });
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: pass });
    expect(d.state).toBe("progressing.analysing");
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: pass });
    expect(d.state).toBe("promoting");
  });

  it("restarts from step 1 against the same stable revision when a new revision arrives", () => {
    const d = new Driver().initialise().newRevision("r2");
    expect(d.desired.canaryWeight).toBe(20);
    d.send({ type: "TARGET", revision: "r3" });
    expect(d.context).toMatchObject({
      stableRevision: "r1",
      canaryRevision: "r3",
      stepIndex: 0,
      canaryWeight: 0,
    });
    expect(d.state).toBe("progressing.awaitingCanary");
    // Readiness of the superseded revision means nothing.
    d.send({ type: "CANARY", revision: "r2", ready: true });
    expect(d.state).toBe("progressing.awaitingCanary");
    d.send({ type: "CANARY", revision: "r3", ready: true });
    expect(d.desired.canaryWeight).toBe(20);
    expect(d.reasons()).toContain("RolloutRestarted");
  });

  it("a target returned to the stable revision cancels the rollout back to healthy", () => {
    const d = new Driver().initialise().newRevision("r2").send({ type: "TARGET", revision: "r1" });
    expect(d.state).toBe("rollingBack");
    d.settle();
    expect(d.phase).toBe("Healthy");
    expect(d.context.canaryRevision).toBeUndefined();
  });

  it("a new revision during promotion waits for the promotion, then rolls out", () => {
    const d = new Driver(plan({ steps: [{ kind: "setWeight", weight: 50 }] }))
      .initialise()
      .newRevision("r2");
    expect(d.state).toBe("promoting");
    d.send({ type: "TARGET", revision: "r3" });
    expect(d.state).toBe("promoting");
    d.send({ type: "PRIMARY", revision: "r2", ready: true });
    expect(d.state).toBe("progressing.awaitingCanary");
    expect(d.context).toMatchObject({ stableRevision: "r2", canaryRevision: "r3" });
  });
});

describe("judging checks", () => {
  it("failureLimit failed checks roll back; the Event names the metric, value and threshold", () => {
    const d = new Driver(withChecks()).initialise().newRevision("r2");
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: fail });
    expect(d.state).toBe("progressing.weighting");
    expect(d.context.failed).toBe(1);
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: fail });
    expect(d.state).toBe("rollingBack");
    expect(d.desired).toMatchObject({
      canaryWeight: 0,
      primaryRevision: "r1",
      canaryScaledUp: true,
    });
    const failed = d.notices.find((n) => n.reason === "AnalysisFailed");
    expect(failed?.message).toContain("request-success-rate: 87.5 < min 99");
    d.settle();
    expect(d.phase).toBe("Failed");
    expect(d.desired.canaryScaledUp).toBe(false);
    expect(conditionsOf(d.snapshot)[0]).toMatchObject({
      type: "Ready",
      status: "False",
      reason: "AnalysisFailed",
    });
  });

  it("errors never count as failures and roll back only at errorLimit in a row", () => {
    const d = new Driver(withChecks({ failureLimit: 1 })).initialise().newRevision("r2");
    for (let i = 0; i < 2; i++) {
      d.now += 10_000;
      d.send({ type: "ANALYSIS", results: error });
    }
    expect(d.context).toMatchObject({ failed: 0, errored: 2, consecutiveErrors: 2 });
    expect(d.state).toBe("progressing.weighting");
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: pass });
    expect(d.context.consecutiveErrors).toBe(0);
    for (let i = 0; i < 3; i++) {
      d.now += 10_000;
      d.send({ type: "ANALYSIS", results: error });
    }
    expect(d.state).toBe("rollingBack");
    expect(d.context.outcome?.reason).toBe("AnalysisErrored");
    expect(d.notices.find((n) => n.reason === "AnalysisErrored")?.message).toContain(
      "prometheus unreachable",
    );
  });

  it("no data never passes a step, and past its limit pauses with that reason until data returns", () => {
    const d = new Driver(withChecks()).initialise().newRevision("r2");
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: noData });
    expect(d.desired.canaryWeight).toBe(20);
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: noData });
    expect(d.phase).toBe("Paused");
    expect(conditionsOf(d.snapshot)[2]).toMatchObject({
      status: "True",
      reason: "InconclusiveAnalysis",
    });
    expect(d.context.failed).toBe(0);
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: pass });
    expect(d.phase).toBe("Progressing");
    expect(d.desired.canaryWeight).toBe(40);
  });

  it("an empty check (no metrics answered) is inconclusive, not a pass", () => {
    const d = new Driver(withChecks()).initialise().newRevision("r2");
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: [] });
    expect(d.desired.canaryWeight).toBe(20);
    expect(d.context.inconclusive).toBe(1);
  });

  it("a check taken before the weight was held for a whole interval does not pass it", () => {
    const d = new Driver(withChecks()).initialise().newRevision("r2");
    d.now += 5_000;
    d.send({ type: "ANALYSIS", results: pass });
    expect(d.desired.canaryWeight).toBe(20);
  });
});

describe("a person steering", () => {
  it("a pause step without duration waits for resume", () => {
    const d = new Driver(plan({ steps: [{ kind: "setWeight", weight: 30 }, { kind: "pause" }] }))
      .initialise()
      .newRevision("r2");
    d.advance(3_600_000);
    expect(d.phase).toBe("Paused");
    expect(wakeAt(d.snapshot)).toBeUndefined();
    d.send({ type: "RESUME", id: "1" });
    expect(d.state).toBe("promoting");
  });

  it("the pause annotation holds the current weight, through a finished pause step", () => {
    const d = new Driver().initialise().newRevision("r2").send({ type: "PAUSE", paused: true });
    d.advance(60_000);
    expect(d.desired.canaryWeight).toBe(20);
    expect(d.phase).toBe("Paused");
    expect(conditionsOf(d.snapshot)[2]).toMatchObject({ reason: "PausedByPerson" });
    d.send({ type: "PAUSE", paused: false });
    expect(d.state).toBe("promoting");
  });

  it("promote skips the remaining steps but keeps the confirm-promotion gate", () => {
    const d = new Driver(plan({ confirmPromotionGate: true })).initialise().newRevision("r2");
    d.send({ type: "PROMOTE", id: "a" });
    expect(d.state).toBe("progressing.confirming");
    expect(dueWork(d.snapshot, d.now)).toEqual({ kind: "gate", gate: "confirm-promotion" });
    d.send({ type: "GATE", gate: "confirm-promotion", passed: false, message: "503" });
    expect(d.state).toBe("progressing.confirming");
    expect(dueWork(d.snapshot, d.now)).toBeUndefined();
    d.send({ type: "GATE", gate: "confirm-promotion", passed: true });
    expect(d.state).toBe("promoting");
    expect(d.context.promotedBy).toBe("person");
  });

  it("promote-full goes straight to promotion", () => {
    const d = new Driver(plan({ confirmPromotionGate: true })).initialise().newRevision("r2");
    d.send({ type: "PROMOTE_FULL", id: "a" });
    expect(d.state).toBe("promoting");
  });

  it("abort rolls back and holds until retry", () => {
    const d = new Driver().initialise().newRevision("r2").send({ type: "ABORT", id: "x" });
    expect(d.state).toBe("rollingBack");
    expect(d.desired.canaryWeight).toBe(0);
    d.settle();
    expect(d.phase).toBe("Aborted");
    d.advance(3_600_000);
    expect(d.phase).toBe("Aborted");
    d.send({ type: "RETRY", id: "y" });
    expect(d.state).toBe("progressing.awaitingCanary");
    expect(d.context.canaryRevision).toBe("r2");
    d.send({ type: "CANARY", revision: "r2", ready: true });
    expect(d.desired.canaryWeight).toBe(20);
  });

  it("a failed rollout starts again on a new revision", () => {
    const d = new Driver().initialise().newRevision("r2").send({ type: "ABORT", id: "x" }).settle();
    d.send({ type: "TARGET", revision: "r3" });
    expect(d.context).toMatchObject({ canaryRevision: "r3", stableRevision: "r1" });
  });

  it("each one-shot action is applied once, however often annotations are read", () => {
    const d = new Driver().initialise().newRevision("r2");
    const annotations = { "fledge.dev/abort": "t1" };
    for (const e of steeringEvents(annotations, d.context.applied, d.now)) d.send(e);
    d.settle();
    expect(d.phase).toBe("Aborted");
    d.send({ type: "RETRY", id: "r" });
    const again = steeringEvents(annotations, d.context.applied, d.now);
    expect(again.map((e) => e.type)).toEqual(["PAUSE"]);
    expect(statusOf(d.snapshot).appliedActions).toEqual({ abort: "t1", retry: "r" });
  });

  it("an action with nothing to act on is recorded and reported, not kept for later", () => {
    const d = new Driver().initialise().send({ type: "PROMOTE", id: "p" });
    expect(d.reasons()).toContain("ActionIgnored");
    expect(d.context.applied.promote).toBe("p");
    d.send({ type: "TARGET", revision: "r2" });
    expect(d.state).toBe("progressing.awaitingCanary");
  });
});

describe("deadlines and gates", () => {
  it("a canary not ready within the progress deadline rolls back", () => {
    const d = new Driver().initialise().send({ type: "TARGET", revision: "r2" });
    expect(wakeAt(d.snapshot)).toBe(T0 + 60_001);
    d.advance(60_000);
    expect(d.phase).toBe("Progressing");
    d.advance(1);
    // The canary never had traffic, so there is nothing to take back.
    expect(d.state).toBe("failed");
    expect(d.context.outcome?.reason).toBe("ProgressDeadlineExceeded");
  });

  it("a canary that becomes unready mid-rollout holds its step and rolls back at the deadline", () => {
    const d = new Driver(
      plan({
        steps: [
          { kind: "setWeight", weight: 20 },
          { kind: "pause", durationMs: 1000 },
          { kind: "setWeight", weight: 60 },
        ],
      }),
    )
      .initialise()
      .newRevision("r2")
      .send({ type: "CANARY", revision: "r2", ready: false });
    d.advance(5_000);
    expect(d.desired.canaryWeight).toBe(20);
    d.advance(60_000);
    expect(d.state).toBe("rollingBack");
  });

  it("a primary not ready at the new revision within the deadline rolls the promotion back", () => {
    const d = new Driver(plan({ steps: [{ kind: "setWeight", weight: 10 }] }))
      .initialise()
      .newRevision("r2");
    expect(d.state).toBe("promoting");
    d.send({ type: "PRIMARY", revision: "r1", ready: false });
    d.advance(60_001);
    expect(d.state).toBe("rollingBack");
    expect(d.desired.primaryRevision).toBe("r1");
  });

  it("the pre-rollout gate holds the first traffic and its failures count toward failureLimit", () => {
    const d = new Driver(plan({ preRolloutGate: true })).initialise().newRevision("r2");
    expect(d.state).toBe("progressing.preRollout");
    expect(d.desired.canaryWeight).toBe(0);
    d.send({ type: "GATE", gate: "pre-rollout", passed: false, message: "load test failed" });
    expect(d.context.failed).toBe(1);
    d.send({ type: "GATE", gate: "pre-rollout", passed: false, message: "load test failed" });
    expect(d.state).toBe("failed");
    expect(d.context.outcome?.message).toContain("load test failed");
  });

  it("a gate whose webhook cannot be called holds and asks again, counting no failure", () => {
    const d = new Driver(plan({ preRolloutGate: true, failureLimit: 1 }))
      .initialise()
      .newRevision("r2");
    const unreachable = "webhook load: cannot reach http://load:8080: connection refused";
    for (let i = 0; i < 3; i++) {
      d.send({
        type: "GATE",
        gate: "pre-rollout",
        passed: false,
        errored: true,
        message: unreachable,
      });
      expect(d.state).toBe("progressing.preRollout");
      expect(dueWork(d.snapshot, d.now)).toBeUndefined();
      d.now += 10_000;
      expect(dueWork(d.snapshot, d.now)).toEqual({ kind: "gate", gate: "pre-rollout" });
    }
    expect(d.context.failed).toBe(0);
    expect(d.notices.find((n) => n.reason === "GateErrored")?.message).toContain(unreachable);
    d.send({ type: "GATE", gate: "pre-rollout", passed: true });
    expect(d.desired.canaryWeight).toBe(20);
  });
});

describe("Kubernetes Events", () => {
  it("each decision has its own reason", () => {
    const d = new Driver(withChecks()).initialise().newRevision("r2");
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: fail });
    d.now += 10_000;
    d.send({ type: "ANALYSIS", results: fail });
    d.settle();
    const reasons = new Set(d.reasons());
    for (const r of [
      "Initialized",
      "RolloutStarted",
      "CanaryReady",
      "StepAdvanced",
      "CheckFailed",
      "AnalysisFailed",
      "RollingBack",
      "RolledBack",
    ]) {
      expect(reasons).toContain(r);
    }
    for (const n of d.notices) expect(n.reason).toMatch(/^[A-Z][A-Za-z]+$/);
  });
});

describe("undoing a promotion", () => {
  it("waits for the primary to be ready at the stable revision again, not for an old report of it", () => {
    const d = new Driver(plan({ steps: [{ kind: "setWeight", weight: 50 }] }))
      .initialise()
      .newRevision("r2");
    expect(d.state).toBe("promoting");
    d.send({ type: "PRIMARY", revision: "r2", ready: false });
    d.send({ type: "ABORT", id: "a" });
    d.send({ type: "TRAFFIC", canaryWeight: 0 });
    expect(d.state).toBe("rollingBack");
    expect(d.desired.primaryRevision).toBe("r1");
    d.send({ type: "PRIMARY", revision: "r1", ready: true });
    expect(d.phase).toBe("Aborted");
  });
});
