/**
 * Figures for the rollout machine alone: events per second through it, and what restoring a
 * snapshot from status costs. Prints; asserts nothing.
 */
import { performance } from "node:perf_hooks";
import type { RolloutEvent, UntimedEvent } from "../src/machine/context.ts";
import type { Plan } from "../src/machine/plan.ts";
import { persist, type RolloutSnapshot, restore, send, start } from "../src/machine/snapshot.ts";
import { desiredOf } from "../src/machine/view.ts";

const plan: Plan = {
  strategy: { kind: "canary" },
  steps: [
    { kind: "setWeight", weight: 20 },
    { kind: "pause", durationMs: 10_000 },
    { kind: "setWeight", weight: 40 },
    { kind: "pause", durationMs: 10_000 },
    { kind: "setWeight", weight: 60 },
    { kind: "pause", durationMs: 10_000 },
  ],
  intervalMs: 10_000,
  failureLimit: 3,
  errorLimit: 5,
  inconclusiveLimit: 5,
  deadlineMs: 600_000,
  checks: true,
  preRolloutGate: false,
  confirmPromotionGate: false,
};

/** One whole rollout, as the reconciler would feed it: about 30 events. */
function rollout(
  from: RolloutSnapshot,
  revision: string,
  t0: number,
): { snapshot: RolloutSnapshot; events: number } {
  let s = from;
  let now = t0;
  let events = 0;
  const feed = (e: UntimedEvent) => {
    s = send(s, { ...e, now } as RolloutEvent).snapshot;
    events++;
  };
  feed({ type: "TARGET", revision });
  feed({ type: "CANARY", revision, ready: true });
  while (desiredOf(s).primaryRevision !== revision) {
    now += 10_000;
    feed({ type: "TRAFFIC", canaryWeight: desiredOf(s).canaryWeight });
    feed({ type: "TICK" });
    feed({
      type: "ANALYSIS",
      results: [{ name: "request-success-rate", outcome: "passed", value: 100, requests: 100 }],
    });
    feed({ type: "PAUSE", paused: false });
  }
  feed({ type: "PRIMARY", revision, ready: true });
  feed({ type: "TRAFFIC", canaryWeight: 0 });
  return { snapshot: s, events };
}

let s = start(plan, 0);
s = send(s, { type: "TARGET", revision: "r0", now: 0 }).snapshot;
s = send(s, { type: "PRIMARY", revision: "r0", ready: true, now: 0 }).snapshot;

// Warm up the JIT before measuring.
for (let i = 0; i < 200; i++) s = rollout(s, `w${i}`, i * 1e6).snapshot;

let events = 0;
const rollouts = 2_000;
let t = performance.now();
for (let i = 0; i < rollouts; i++) {
  const r = rollout(s, `r${i + 1}`, 1e9 + i * 1e6);
  s = r.snapshot;
  events += r.events;
}
const elapsed = (performance.now() - t) / 1000;

const stored = JSON.stringify(persist(s));
const restores = 20_000;
t = performance.now();
for (let i = 0; i < restores; i++) {
  const r = restore(JSON.parse(stored));
  if (!r.ok) throw new Error(r.error);
}
const restoreUs = ((performance.now() - t) * 1000) / restores;

t = performance.now();
for (let i = 0; i < restores; i++) JSON.stringify(persist(s));
const persistUs = ((performance.now() - t) * 1000) / restores;

console.log(`machine: ${rollouts} rollouts, ${events} events in ${elapsed.toFixed(2)} s`);
console.log(`  events per second      ${Math.round(events / elapsed).toLocaleString("en")}`);
console.log(`  per event              ${((elapsed * 1e6) / events).toFixed(1)} µs`);
console.log(
  `  per whole rollout      ${((elapsed * 1e3) / rollouts).toFixed(2)} ms (${Math.round(events / rollouts)} events)`,
);
console.log(`snapshot in status:      ${stored.length} bytes of JSON`);
console.log(`  restore (parse+check)  ${restoreUs.toFixed(1)} µs`);
console.log(`  persist (to JSON)      ${persistUs.toFixed(1)} µs`);
