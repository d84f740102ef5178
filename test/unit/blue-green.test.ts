import { describe, expect, it } from "vitest";
import { RolloutSpec } from "../../src/api/rollout.ts";
import type { CheckResult } from "../../src/machine/context.ts";
import { planFromSpec } from "../../src/machine/plan.ts";
import { persist, restore } from "../../src/machine/snapshot.ts";
import { conditionsOf, dueWork, wakeAt } from "../../src/machine/view.ts";
import { Driver, plan } from "./support/driver.ts";

const pass: CheckResult[] = [{ name: "request-success-rate", outcome: "passed", value: 100 }];
const fail: CheckResult[] = [
  { name: "request-success-rate", outcome: "failed", value: 80, message: "80 < min 99" },
];

const DELAY_MS = 30_000;

/** A blue/green plan as planFromSpec makes it: two preview checks, then the switch. */
const blueGreen = (overrides: { autoPromotion?: boolean; checks?: boolean } = {}) => {
  const checks = overrides.checks ?? true;
  return plan({
    strategy: { kind: "blueGreen", scaleDownDelayMs: DELAY_MS },
    steps: [
      ...(checks ? [{ kind: "analysis" as const, passes: 2 }] : []),
      ...(overrides.autoPromotion === false ? [{ kind: "pause" as const }] : []),
    ],
    checks,
    failureLimit: 1,
  });
};

/** Follows every weight the machine asks of the route, as the split history would show it. */
class Recorder extends Driver {
  weights: number[] = [0];
  override send(event: Parameters<Driver["send"]>[0]): this {
    super.send(event);
    const w = this.desired.canaryWeight;
    if (this.weights.at(-1) !== w) this.weights.push(w);
    return this;
  }
}

function previewed(p = blueGreen()): Recorder {
  const d = new Recorder(p).initialise("r1").newRevision("r2");
  for (let i = 0; i < 2; i++) {
    d.now += p.intervalMs;
    d.send({ type: "ANALYSIS", results: pass });
  }
  return d;
}

describe("blue/green", () => {
  it("the plan: a preview of previewChecks passes, without autoPromotion a pause, and the delay", () => {
    const spec = (blueGreenSettings: object) =>
      RolloutSpec.parse({
        targetRef: { name: "podinfo" },
        service: { port: 9898 },
        strategy: "blueGreen",
        blueGreen: blueGreenSettings,
        analysis: { metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }] },
      });
    const auto = planFromSpec(spec({ previewChecks: 3 }));
    expect(auto.ok && auto.value).toMatchObject({
      strategy: { kind: "blueGreen", scaleDownDelayMs: 30_000 },
      steps: [{ kind: "analysis", passes: 3 }],
    });
    const manual = planFromSpec(spec({ autoPromotion: false, scaleDownDelaySeconds: 5 }));
    expect(manual.ok && manual.value).toMatchObject({
      strategy: { kind: "blueGreen", scaleDownDelayMs: 5_000 },
      steps: [{ kind: "analysis", passes: 1 }, { kind: "pause" }],
    });
  });

  it("the spec: a canary needs steps, a blue/green rollout takes none, and its settings need the strategy", () => {
    const base = { targetRef: { name: "podinfo" }, service: { port: 9898 } };
    const issues = (spec: object) =>
      RolloutSpec.safeParse({ ...base, ...spec }).error?.issues.map((i) => i.message) ?? [];
    expect(issues({})).toEqual(["a canary rollout needs at least one step"]);
    expect(issues({ strategy: "blueGreen", steps: [{ setWeight: 10 }] })[0]).toContain(
      "a blueGreen rollout takes no steps",
    );
    expect(issues({ steps: [{ setWeight: 10 }], blueGreen: {} })).toEqual([
      "blueGreen settings need strategy: blueGreen",
    ]);
    expect(issues({ strategy: "blueGreen" })).toEqual([]);
  });

  it("a good revision is previewed at weight 0, switched in one write, and the old one retires after the delay", () => {
    const d = previewed();
    expect(d.state).toBe("progressing.switched");
    expect(d.desired).toMatchObject({
      canaryWeight: 100,
      primaryRevision: "r1",
      canaryScaledUp: true,
    });
    expect(d.reasons()).toContain("Switched");
    d.send({ type: "TICK" });
    expect(conditionsOf(d.snapshot)[1]).toMatchObject({ reason: "Switched" });
    // The next check comes before the old version's retirement, and both wake the rollout.
    const switchedAt = d.now;
    expect(wakeAt(d.snapshot)).toBe(d.context.nextCheckAt);
    // Post-promotion checks go on at each interval while the old version still runs.
    d.now += d.context.plan.intervalMs;
    expect(dueWork(d.snapshot, d.now)).toEqual({ kind: "analysis" });
    d.send({ type: "ANALYSIS", results: pass });
    expect(d.state).toBe("progressing.switched");
    expect(wakeAt(d.snapshot)).toBe(
      Math.min(switchedAt + DELAY_MS, d.now + d.context.plan.intervalMs),
    );
    d.advance(DELAY_MS);
    expect(d.state).toBe("promoting");
    expect(d.desired).toMatchObject({ canaryWeight: 100, primaryRevision: "r2" });
    d.send({ type: "PRIMARY", revision: "r2", ready: true });
    expect(d.phase).toBe("Healthy");
    expect(d.desired.canaryWeight).toBe(0);
    // The canary keeps its pods until the route is seen sending it nothing.
    expect(d.desired.canaryScaledUp).toBe(true);
    d.send({ type: "TRAFFIC", canaryWeight: 0 });
    expect(d.desired.canaryScaledUp).toBe(false);
    expect(d.weights).toEqual([0, 100, 0]);
  });

  it("a revision that fails its preview never receives apex traffic", () => {
    const d = new Recorder(blueGreen()).initialise("r1").newRevision("r2");
    d.now += d.context.plan.intervalMs;
    d.send({ type: "ANALYSIS", results: fail });
    // No traffic ever moved, so nothing is left to roll back.
    expect(d.phase).toBe("Failed");
    expect(d.reasons()).toContain("AnalysisFailed");
    expect(d.weights).toEqual([0]);
  });

  it("a revision that fails after the switch is switched back in one write, to a primary never touched", () => {
    const d = previewed();
    d.send({ type: "TICK" });
    d.now += d.context.plan.intervalMs;
    d.send({ type: "ANALYSIS", results: fail });
    expect(d.state).toBe("rollingBack");
    expect(d.desired).toMatchObject({
      canaryWeight: 0,
      primaryRevision: "r1",
      canaryScaledUp: true,
    });
    d.send({ type: "TRAFFIC", canaryWeight: 0 });
    expect(d.phase).toBe("Failed");
    expect(d.desired.canaryScaledUp).toBe(false);
    expect(d.weights).toEqual([0, 100, 0]);
  });

  it("without autoPromotion the preview holds until a person promotes", () => {
    const d = previewed(blueGreen({ autoPromotion: false }));
    expect(d.state).toBe("progressing.pausing");
    expect(d.phase).toBe("Paused");
    d.advance(3_600_000);
    expect(d.desired.canaryWeight).toBe(0);
    d.send({ type: "PROMOTE", id: "p1" });
    expect(d.state).toBe("progressing.switched");
    expect(d.desired.canaryWeight).toBe(100);
  });

  it("a person's pause holds the switch, and the retirement; abort after the switch switches back", () => {
    const d = new Recorder(blueGreen({ checks: false })).initialise("r1");
    d.send({ type: "PAUSE", paused: true }).newRevision("r2");
    expect(d.desired.canaryWeight).toBe(0);
    d.send({ type: "PAUSE", paused: false });
    expect(d.state).toBe("progressing.switched");
    d.send({ type: "PAUSE", paused: true }).advance(DELAY_MS * 2);
    expect(d.state).toBe("progressing.switched");
    d.send({ type: "ABORT", id: "a1" });
    expect(d.state).toBe("rollingBack");
    expect(d.desired).toMatchObject({ canaryWeight: 0, primaryRevision: "r1" });
    d.send({ type: "TRAFFIC", canaryWeight: 0 });
    expect(d.phase).toBe("Aborted");
    expect(d.weights).toEqual([0, 100, 0]);
  });

  it("a person's pause holds the switch even after a promote", () => {
    const d = previewed(blueGreen({ autoPromotion: false }));
    d.send({ type: "PAUSE", paused: true }).send({ type: "PROMOTE", id: "p1" });
    expect(d.state).toBe("progressing.confirmed");
    expect(d.phase).toBe("Paused");
    expect(d.desired.canaryWeight).toBe(0);
    d.send({ type: "PAUSE", paused: false });
    expect(d.state).toBe("progressing.switched");
  });

  it("promote after the switch retires the old version without waiting out the delay", () => {
    const d = previewed();
    d.send({ type: "TICK" }).send({ type: "PROMOTE", id: "p1" });
    expect(d.state).toBe("promoting");
    expect(d.desired).toMatchObject({ canaryWeight: 100, primaryRevision: "r2" });
  });

  it("the delay runs from the switch in effect, and survives a restart from status", () => {
    const d = new Driver(blueGreen({ checks: false })).initialise("r1").newRevision("r2");
    expect(d.state).toBe("progressing.switched");
    // The reconcile that decided the switch writes it and reads it back.
    d.send({ type: "TICK" });
    const switchedAt = d.now;
    d.advance(5_000);
    const restored = restore(persist(d.snapshot));
    expect(restored.ok).toBe(true);
    if (!restored.ok) return;
    d.snapshot = restored.value;
    expect(wakeAt(d.snapshot)).toBe(switchedAt + DELAY_MS);
    d.advance(DELAY_MS - 5_000 - 1);
    expect(d.state).toBe("progressing.switched");
    d.advance(1);
    expect(d.state).toBe("promoting");
  });

  it("a plan in status from before blue/green restores as a canary's", () => {
    const d = new Driver().initialise("r1");
    const saved = persist(d.snapshot) as { context: { plan: Record<string, unknown> } };
    delete saved.context.plan.strategy;
    const restored = restore(saved);
    expect(restored.ok && restored.value.context.plan.strategy).toEqual({ kind: "canary" });
  });
});
