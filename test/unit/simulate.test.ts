import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { PLAIN } from "../../src/cli/render.ts";
import { simulateCommand } from "../../src/cli/simulate.ts";
import { rolloutFromText, scenarioFromText } from "../../src/simulate/input.ts";
import { renderTimeline } from "../../src/simulate/render.ts";
import { type Entry, simulate, type Timeline } from "../../src/simulate/simulate.ts";

const ROLLOUT = (spec: string) => `
apiVersion: fledge.dev/v1alpha1
kind: Rollout
metadata: { name: podinfo, namespace: shop }
spec:
  targetRef: { apiVersion: apps/v1, kind: Deployment, name: podinfo }
  service: { port: 9898 }
${spec}`;

const CANARY = ROLLOUT(`
  steps:
    - setWeight: 20
    - pause: { duration: 2m }
    - setWeight: 50
    - analysis: { passes: 3 }
  analysis:
    interval: 1m
    failureLimit: 2
    errorLimit: 2
    inconclusiveLimit: 2
    metrics:
      - name: request-success-rate
        thresholdRange: { min: 99 }
`);

function run(rollout: string, scenario?: string): Timeline {
  const r = rolloutFromText(rollout);
  if (!r.ok) throw new Error(r.error);
  const s = scenarioFromText(scenario);
  if (!s.ok) throw new Error(s.error);
  return simulate(r.value.spec, r.value.plan, s.value);
}

const weights = (t: Timeline) =>
  t.entries.flatMap((e) => (e.kind === "traffic" ? [[e.at, e.canaryWeight]] : []));
const reasons = (t: Timeline) => t.entries.flatMap((e) => (e.kind === "event" ? [e.reason] : []));
const checks = (t: Timeline) =>
  t.entries.filter((e): e is Extract<Entry, { kind: "check" }> => e.kind === "check");

describe("kubectl fledge simulate", () => {
  it("promotes a good plan at the expected total time", () => {
    const t = run(CANARY, "readyAfter: 10s");
    // Ready at 10s; 20% held for one passing check (1m), the pause 2m, 50% then three checks.
    expect(weights(t)).toEqual([
      [10_000, 20],
      [190_000, 50],
      [440_000, 0], // the canary's share returns to the primary once it serves the new revision
    ]);
    // The primary takes the new revision at 7m10s and is ready 10s later.
    expect(t.end).toMatchObject({ phase: "Healthy", held: false, at: 440_000 });
    const text = renderTimeline(t);
    expect(text).toContain("+10s      StepAdvanced: step 1/4: canary weight 20%");
    expect(text).toContain("check 1: pass (request-success-rate 99)");
    expect(text.trimEnd().split("\n").at(-1)).toBe("promoted after 7m20s");
  });

  it("rolls back after failureLimit failed checks", () => {
    const t = run(
      CANARY,
      "metrics: { request-success-rate: [{ from: 0s, value: 99.9 }, { from: 3m, value: 90 }] }",
    );
    expect(checks(t).map((c) => c.results[0]?.outcome)).toEqual([
      "passed",
      "passed",
      "failed",
      "failed",
    ]);
    expect(reasons(t)).toContain("AnalysisFailed");
    expect(t.end).toMatchObject({ phase: "Failed", at: 300_000 });
    expect(t.end.outcome?.message).toBe(
      "2 failed checks reached failureLimit 2: request-success-rate: 90 < min 99",
    );
    expect(weights(t).at(-1)).toEqual([300_000, 0]);
  });

  it("counts errors apart from failures, and pauses on too little data", () => {
    const errors = run(CANARY, "metrics: { request-success-rate: [{ from: 0s, error: down }] }");
    expect(errors.end.outcome?.reason).toBe("AnalysisErrored");
    expect(errors.end.at).toBe(120_000); // errorLimit 2 in a row, not failureLimit
    expect(reasons(errors)).not.toContain("CheckFailed");
    expect(reasons(errors)).toContain("CheckErrored");

    const noData = run(
      CANARY,
      "metrics: { request-success-rate: [{ from: 0s, noData: true }, { from: 5m, value: 99.5 }] }",
    );
    const phases = noData.entries.flatMap((e) => (e.kind === "phase" ? [[e.at, e.phase]] : []));
    // Two inconclusive checks pause the rollout at 2m; the first pass at 5m lifts that pause and
    // passes step 1, whose pause step then holds until 7m.
    expect(phases.slice(0, 3)).toEqual([
      [0, "Progressing"],
      [120_000, "Paused"],
      [420_000, "Progressing"],
    ]);
    expect(weights(noData)[0]).toEqual([0, 20]);
    expect(noData.end.phase).toBe("Healthy");
  });

  it("holds for a person's pause, resumes and aborts at their times", () => {
    const paused = run(CANARY, "actions: [{ at: 30s, pause: true }, { at: 10m, pause: false }]");
    // Step 1's check passes at 1m but the pause holds 20% until 10m.
    expect(weights(paused)[1]).toEqual([600_000 + 120_000, 50]);
    expect(paused.end.phase).toBe("Healthy");

    const waits = run(ROLLOUT("  steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 60 }]"));
    expect(waits.end).toMatchObject({ held: true, phase: "Paused", at: 0 });
    const resumed = run(
      ROLLOUT("  steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 60 }]"),
      "actions: [{ at: 5m, resume: true }]",
    );
    expect(weights(resumed)).toEqual([
      [0, 10],
      [300_000, 60],
      [300_000, 0],
    ]);

    const aborted = run(CANARY, "actions: [{ at: 4m, abort: true }]");
    expect(aborted.end).toMatchObject({ phase: "Aborted", at: 240_000 });
    expect(renderTimeline(aborted)).toContain("+4m       person: abort");
  });

  it("simulates an hour-long plan in milliseconds", () => {
    const steps = Array.from({ length: 20 }, (_, i) => [
      `    - setWeight: ${(i + 1) * 5}`,
      "    - pause: { duration: 3m }",
    ]).flat();
    const long = ROLLOUT(`  steps:\n${steps.join("\n")}
  analysis:
    interval: 30s
    metrics: [{ name: request-success-rate, thresholdRange: { min: 99 } }]
`);
    const started = performance.now();
    const t = run(long);
    const ms = performance.now() - started;
    console.log(`a ${t.end.at / 60_000}-minute plan simulated in ${ms.toFixed(1)} ms`);
    expect(t.end.phase).toBe("Healthy");
    expect(t.end.at).toBeGreaterThan(3_600_000);
    expect(ms).toBeLessThan(5_000);
  });

  it("runs a blue/green preview, switch and retirement", () => {
    const t = run(
      ROLLOUT(`  strategy: blueGreen
  blueGreen: { previewChecks: 2, scaleDownDelaySeconds: 120 }
  analysis:
    interval: 1m
    metrics: [{ name: request-success-rate, thresholdRange: { min: 99 } }]
`),
    );
    // The preview takes no apex traffic: the first route write is the switch.
    expect(weights(t)).toEqual([
      [120_000, 100],
      [240_000, 0],
    ]);
    expect(reasons(t)).toContain("Switched");
    expect(t.end.phase).toBe("Healthy");

    const bad = run(
      ROLLOUT(`  strategy: blueGreen
  analysis:
    interval: 1m
    failureLimit: 1
    metrics: [{ name: request-success-rate, thresholdRange: { min: 99 } }]
`),
      "metrics: { request-success-rate: [{ from: 0s, value: 50 }] }",
    );
    expect(bad.end.phase).toBe("Failed");
    expect(weights(bad).some(([, w]) => w === 100)).toBe(false);
  });

  it("takes templates from the file and refuses one it does not hold", () => {
    const withTemplate = `${ROLLOUT(`  steps: [{ setWeight: 50 }]
  analysis:
    interval: 1m
    templates: [{ name: success }]
`)}---
apiVersion: fledge.dev/v1alpha1
kind: AnalysisTemplate
metadata: { name: success, namespace: shop }
spec:
  metrics: [{ name: request-success-rate, thresholdRange: { min: 99 } }]
`;
    const t = run(withTemplate, "metrics: { request-success-rate: [{ from: 0s, value: 50 }] }");
    expect(checks(t)[0]?.results[0]).toMatchObject({
      name: "request-success-rate",
      outcome: "failed",
    });
    const alone = rolloutFromText(withTemplate.split("---")[0] as string);
    expect(alone.ok ? "" : alone.error).toMatch(/^TemplateNotFound/);
  });

  it("judges webhooks and refuses a malformed scenario", () => {
    const hooks = ROLLOUT(`  steps: [{ setWeight: 50 }]
  analysis:
    interval: 1m
    failureLimit: 1
    webhooks: [{ name: smoke, type: rollout, url: http://x.test/ }]
`);
    const t = run(hooks, "metrics: { smoke: [{ from: 0s, fail: true }] }");
    expect(t.end.outcome?.message).toContain("webhook smoke answered 500");
    expect(scenarioFromText("actions: [{ at: 1m, pause: true, abort: true }]").ok).toBe(false);
    expect(scenarioFromText("readyAfter: soon").ok).toBe(false);
  });

  it("runs from files on the command line: text, -o json, exit codes and errors", async () => {
    const dir = mkdtempSync(join(tmpdir(), "fledge-simulate-"));
    const file = (name: string, text: string) => {
      writeFileSync(join(dir, name), text);
      return join(dir, name);
    };
    const rollout = file("rollout.yaml", CANARY);
    const bad = file("bad.yaml", "metrics: { request-success-rate: [{ from: 0s, value: 50 }] }");
    const out: string[] = [];
    const err: string[] = [];
    const io = {
      out: (t: string) => out.push(t),
      err: (t: string) => err.push(t),
      tty: false,
      paint: PLAIN,
    };
    expect(await simulateCommand(io, rollout, {})).toBe(0);
    expect(out.join("")).toMatch(/promoted after 7m\n$/);
    out.length = 0;
    expect(await simulateCommand(io, rollout, { metrics: bad, output: "json" })).toBe(1);
    expect(JSON.parse(out.join("")).end).toMatchObject({ phase: "Failed", held: false });
    expect(await simulateCommand(io, join(dir, "missing.yaml"), {})).toBe(1);
    expect(err.join("")).toMatch(/^error: cannot read .*missing\.yaml/);
  });
});
