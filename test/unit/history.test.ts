import { describe, expect, it } from "vitest";
import { API_VERSION, type HistoryEntry, type RolloutStatus } from "../../src/api/rollout.ts";
import { digestOf, extendHistory, HISTORY_LIMIT } from "../../src/controller/history.ts";
import { statusPatch } from "../../src/controller/record.ts";
import { rolloutObject } from "../../src/controller/rollout-object.ts";
import { rolloutStatus, statusDiffers } from "../../src/controller/status.ts";
import type { CheckResult } from "../../src/machine/context.ts";
import type { PlanStep } from "../../src/machine/plan.ts";
import { Driver, plan } from "./support/driver.ts";
import { jsonPatch } from "./support/json-patch.ts";

const results = (i: number): CheckResult[] => [
  { name: "request-success-rate", outcome: "passed", value: 99.5 + (i % 5) / 10, requests: 600 },
  { name: "request-duration-p99-ms", outcome: "passed", value: 180 + (i % 7), requests: 600 },
  { name: "error-budget-burn", outcome: "passed", value: 0.4, requests: 600 },
];

/** The statuses a reconciler would write, each computed from the one before, as it reads it back. */
class Writer {
  status: RolloutStatus | undefined;
  readonly driver: Driver;
  readonly limit: number | undefined;
  constructor(driver: Driver, limit?: number) {
    this.driver = driver;
    this.limit = limit;
  }
  write(): RolloutStatus {
    const next = rolloutStatus(this.driver.snapshot, this.status, 1, this.driver.now);
    const history = this.status?.history ?? [];
    const change = extendHistory(
      digestOf(history),
      next,
      new Date(this.driver.now).toISOString(),
      this.limit ?? HISTORY_LIMIT,
    );
    // What the status patch does to the stored history, and through JSON, as the apiserver
    // hands status back.
    const extended = [...history.slice(change.drop), ...(change.append ? [change.append] : [])];
    this.status = JSON.parse(JSON.stringify({ ...next, history: extended })) as RolloutStatus;
    return this.status;
  }
}

describe("status.history", () => {
  it("records each move and each check once, oldest first", () => {
    const d = new Driver(plan({ checks: true })).initialise();
    const w = new Writer(d);
    w.write();
    d.newRevision("r2");
    w.write();
    d.advance(10_000).send({ type: "ANALYSIS", results: results(0) });
    w.write();
    // Nothing new: the same check and the same standing add nothing.
    d.advance(1);
    const again = w.write();
    const history = again.history ?? [];
    expect(history.map((e) => [e.phase, e.weight, e.step, e.checks?.length ?? 0])).toEqual([
      ["Healthy", 0, undefined, 0],
      ["Progressing", 20, 0, 0],
      ["Paused", 20, 1, 3],
    ]);
    expect(history[2]?.pauses).toEqual(["Step"]);
    expect(history[2]?.checks?.[0]).toEqual({
      name: "request-success-rate",
      outcome: "passed",
      value: 99.5,
    });
  });

  it("costs no write of its own: a status that did not change keeps its history", () => {
    const d = new Driver(plan({ checks: true })).initialise().newRevision("r2");
    const w = new Writer(d);
    // As the controller's cache holds it: status apart, the history as its digest.
    const { history, ...before } = w.write();
    d.advance(5_000);
    const next = rolloutStatus(d.snapshot, before, 1, d.now);
    expect(statusDiffers(before, next)).toBe(false);
    const at = new Date(d.now).toISOString();
    expect(extendHistory(digestOf(history ?? []), next, at, HISTORY_LIMIT)).toEqual({ drop: 0 });
  });

  it("is carried on by a restarted controller, which knows only status", () => {
    const d = new Driver(plan({ checks: true })).initialise().newRevision("r2");
    const first = new Writer(d);
    first.write();
    d.advance(10_000).send({ type: "ANALYSIS", results: results(0) });
    const written = first.write();
    // A new controller: the same snapshot (restored from status) and the status it reads.
    const restarted = new Writer(d);
    restarted.status = written;
    d.advance(1_000);
    expect(restarted.write().history).toEqual(written.history);
    d.advance(10_000).send({ type: "ANALYSIS", results: results(1) });
    const after = restarted.write().history ?? [];
    expect(after.slice(0, -1)).toEqual(written.history);
    expect(after.at(-1)?.checks).toHaveLength(3);
  });
});

/** A long canary checked every 10 s, written through a Writer keeping `limit` entries. */
function longRollout(checks: number, limit?: number): RolloutStatus {
  const steps: PlanStep[] = Array.from({ length: 100 }, (_, i) =>
    i % 2 === 0
      ? { kind: "setWeight", weight: 1 + (i % 99) }
      : { kind: "pause", durationMs: 10_000 },
  );
  const d = new Driver(plan({ checks: true, steps })).initialise();
  const w = new Writer(d, limit);
  w.write();
  d.newRevision("r2");
  w.write();
  for (let i = 0; i < checks; i++) {
    d.advance(10_000).send({ type: "ANALYSIS", results: results(i) });
    w.write();
  }
  return w.status as RolloutStatus;
}

describe("status.history's bound", () => {
  it("keeps the last N, and status stays small with a full history", () => {
    const status = longRollout(80);
    const history = status.history ?? [];
    expect(history).toHaveLength(HISTORY_LIMIT);
    expect(history.filter((e) => e.checks).length).toBeGreaterThan(HISTORY_LIMIT / 2);
    const whole = JSON.stringify(status).length;
    const part = JSON.stringify(history).length;
    console.info(`status with ${history.length} history entries: ${whole} bytes, history ${part}`);
    // A Rollout's status goes out on every list and watch: a full history keeps it far inside
    // the apiserver's 1.5 MiB object limit, a few hundred bytes an entry.
    expect(whole).toBeLessThan(24 * 1024);
  });

  it("takes the controller's limit", () => {
    expect(longRollout(20, 5).history).toHaveLength(5);
  });
});

describe("the status patch", () => {
  it("takes the stored status to the one written and its history on as extendHistory says, only appending and trimming", () => {
    const d = new Driver(plan({ checks: true })).initialise();
    const limit = 4;
    let stored: { metadata: { resourceVersion: string }; status?: RolloutStatus } = {
      metadata: { resourceVersion: "1" },
    };
    let model: HistoryEntry[] = [];
    for (let i = 0; i < 12; i++) {
      if (i % 3 === 0) d.newRevision(`r${i}`);
      else d.advance(10_000).send({ type: "ANALYSIS", results: results(i) });
      const cached = rolloutObject({
        ...stored,
        apiVersion: API_VERSION,
        metadata: { name: "p", namespace: "ns", ...stored.metadata },
        spec: {},
      });
      if (!cached) throw new Error("unreadable");
      const status = rolloutStatus(d.snapshot, cached.status as RolloutStatus, 1, d.now);
      const change = extendHistory(cached.history, status, new Date(d.now).toISOString(), limit);
      stored = jsonPatch(stored, statusPatch(cached, status, change));
      model = [...model, ...(change.append ? [change.append] : [])].slice(-limit);
      const { history, ...rest } = stored.status ?? {};
      expect(history).toEqual(model);
      expect(rest).toEqual(JSON.parse(JSON.stringify(status)));
    }
    expect(model).toHaveLength(limit);
  });
});
