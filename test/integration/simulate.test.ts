// Simulate against the controller: the same Rollout and scenario run on the real control plane
// and by `kubectl fledge simulate`, and the route's moves and the outcome agree.

import { describe, expect, it } from "vitest";
import { rolloutFromText, scenarioFromText } from "../../src/simulate/input.ts";
import { simulate } from "../../src/simulate/simulate.ts";
import { rolloutManifest } from "./support/cluster.ts";
import { loopbackServer } from "./support/loopback.ts";
import { Podinfo, withController } from "./support/rollouts.ts";

const world = withController();

/** The scenario's webhook on the loopback: 200, or 500 for the paths a test marks failing. */
const failing = new Set<string>();
const hook = loopbackServer((req, res) => {
  req.resume();
  res.writeHead(failing.has(req.url ?? "") ? 500 : 200).end();
});

const STEPS = [{ setWeight: 20 }, { pause: { duration: "4s" } }, { setWeight: 60 }];
const analysis = (path: string) => ({
  interval: "2s",
  failureLimit: 2,
  webhooks: [{ name: "smoke", type: "rollout", url: `http://127.0.0.1:${hook.port}${path}` }],
});

/** Simulate's moves of the canary's weight, each with its time from the first move. */
function simulated(ns: string, path: string, scenario: string) {
  const manifest = rolloutManifest(ns, "podinfo", {
    targetRef: { name: "podinfo" },
    service: { port: 9898 },
    steps: STEPS,
    analysis: analysis(path),
  });
  // JSON is YAML: the file simulate reads is the manifest the cluster was given.
  const r = rolloutFromText(JSON.stringify(manifest));
  const s = scenarioFromText(scenario);
  if (!r.ok || !s.ok) throw new Error("simulate's input was refused");
  const t = simulate(r.value.spec, r.value.plan, s.value);
  const moves = t.entries.flatMap((e) => (e.kind === "traffic" ? [e] : []));
  const first = moves[0]?.at ?? 0;
  return { t, weights: moves.map((m) => m.canaryWeight), at: moves.map((m) => m.at - first) };
}

/** What the cluster did: each weight the split showed after 0, timed from the first move. */
async function onCluster(p: Podinfo, done: () => Promise<unknown>) {
  const recording = p.recordWeights();
  await p.newRevision("2");
  await done();
  await new Promise((r) => setTimeout(r, 300)); // the last move sampled
  await recording.stop();
  const start = recording.seen[0] === 0 ? 1 : 0;
  const seen = recording.seen.slice(start);
  const first = recording.at[start] ?? 0;
  return { weights: seen, at: recording.at.slice(start).map((t) => t - first) };
}

describe("simulate agrees with the controller", () => {
  it("a passing plan: the same moves at the same times, promoted", async () => {
    const path = "/pass";
    const { p } = await Podinfo.healthy(world.client, "sim-pass", STEPS, {
      analysis: analysis(path),
    });
    const real = await onCluster(p, async () => {
      const before = await p.rollout();
      return p.promoted(before, 60_000);
    });
    const sim = simulated(p.ns, path, "readyAfter: 1s");
    console.log("cluster", real, "simulate", { weights: sim.weights, at: sim.at });
    expect(sim.t.end.phase).toBe("Healthy");
    expect(real.weights).toEqual(sim.weights);
    expect(sim.weights).toEqual([20, 60, 0]);
    // Times from the first move: the controller's reconciles and the fake kubelet add latency.
    for (const [i, at] of sim.at.entries())
      expect(Math.abs((real.at[i] ?? 0) - at)).toBeLessThan(3_000);
  }, 120_000);

  it("a failing check: rolled back after failureLimit checks, on both", async () => {
    const path = "/fail";
    failing.add(path);
    const { p } = await Podinfo.healthy(world.client, "sim-fail", STEPS, {
      analysis: analysis(path),
    });
    const real = await onCluster(p, () => p.phase("Failed", 60_000));
    const sim = simulated(p.ns, path, "metrics: { smoke: [{ from: 0s, fail: true }] }");
    console.log("cluster", real, "simulate", { weights: sim.weights, at: sim.at });
    expect(sim.t.end.phase).toBe("Failed");
    expect(real.weights).toEqual(sim.weights);
    expect(sim.weights).toEqual([20, 0]);
    for (const [i, at] of sim.at.entries())
      expect(Math.abs((real.at[i] ?? 0) - at)).toBeLessThan(3_000);
  }, 120_000);
});
