// The canary judge end to end: the real Prometheus scraping the simulator, whose Deployments
// answer by their own annotations, so the primary and the canary have series of their own. The
// judge compares them over the same window; no threshold is involved.

import { describe, expect, test } from "vitest";
import { eventually, eventWith } from "../integration/support/cluster.ts";
import { Podinfo, type RolloutJson } from "../integration/support/rollouts.ts";
import { controllerOnPrometheus } from "./support/controller.ts";

const world = controllerOnPrometheus();

type Status = NonNullable<RolloutJson["status"]> & {
  metrics?: {
    name: string;
    outcome: string;
    value?: number;
    message?: string;
    compared?: unknown[];
  }[];
};

const status = async (p: Podinfo) => ((await p.rollout()).status ?? {}) as Status;

/** p50 compared with the primary's, and a p99 threshold no canary here comes near. */
const analysis = {
  interval: "60s",
  failureLimit: 1,
  inconclusiveLimit: 1,
  minRequestCount: 5,
  metrics: [
    {
      name: "request-duration-p50-ms",
      // Samples every 4 s (four of the tier's scrapes, about 100 of the canary's requests each,
      // so one missed scrape on a loaded machine does not empty a sample) give 15 a side: the
      // shift's estimate is then within about 3% of the truth, far from the 10% tolerance.
      compare: { direction: "increase-is-bad", tolerance: 10, step: "4s" },
      provider: { type: "prometheus", mesh: "linkerd" },
    },
    {
      name: "request-duration-p99-ms",
      thresholdRange: { max: 500 },
      provider: { type: "prometheus", mesh: "linkerd" },
    },
  ],
};

/** Waits for the rollout to settle as `done` says; a timeout tells the status it last had. */
async function settles(p: Podinfo, done: (s: Status) => boolean) {
  let last: Status | undefined;
  return eventually(
    `${p.ns}/podinfo to settle`,
    async () => {
      last = await status(p);
      return done(last) ? last : undefined;
    },
    300_000,
  ).catch((e: Error) => {
    throw new Error(
      `${e.message}; last status: ${JSON.stringify({ ...last, machine: undefined })}`,
    );
  });
}

// Two checks of a minute each, on a loaded machine: the limit is for hangs.
describe.concurrent("the canary judge, on the real Prometheus", { timeout: 360_000 }, () => {
  test("a canary 20% slower than the primary, under every absolute threshold, is rolled back", async () => {
    const { p, initial } = await Podinfo.healthy(
      world.client,
      "judge-slow",
      [{ setWeight: 50 }, { analysis: { passes: 1 } }],
      { analysis },
    );
    await p.newRevision("v2", { "fledge.dev/sim-latency-ms": "p50=12" });
    const failed = await settles(p, (s) => s.phase === "Failed");
    expect(failed.stableRevision).toBe(initial.status?.stableRevision);
    const score = failed.metrics?.find((m) => m.name === "canary-score");
    expect(score).toMatchObject({ outcome: "failed" });
    expect(score?.compared?.[0]).toMatchObject({ classification: "High", bad: true });
    const event = await eventWith(world.client, p.ns, "AnalysisFailed");
    expect(event?.message).toMatch(
      /canary-score: request-duration-p50-ms: canary \+\d+% \(95% CI \+\d+%\.\.\+\d+%\) vs primary/,
    );
  });

  test("a canary like the primary passes and is promoted", async () => {
    const { p, initial } = await Podinfo.healthy(
      world.client,
      "judge-same",
      [{ setWeight: 50 }, { analysis: { passes: 1 } }],
      { analysis },
    );
    await p.newRevision("v2");
    const promoted = await settles(
      p,
      (s) => s.phase === "Healthy" && s.stableRevision !== initial.status?.stableRevision,
    );
    const judged = promoted.metrics?.find((m) => m.name === "canary-score");
    expect(judged?.outcome).toBe("passed");
  });

  test("a canary with no traffic of its own is inconclusive: the rollout pauses, nothing is judged", async () => {
    const { p, initial } = await Podinfo.healthy(
      world.client,
      "judge-idle",
      [{ setWeight: 0 }, { analysis: { passes: 1 } }],
      { analysis },
    );
    await p.newRevision("v2");
    const paused = await settles(p, (s) =>
      (s.pauseReasons ?? []).some((r) => r.reason === "Inconclusive"),
    );
    expect(paused.stableRevision).toBe(initial.status?.stableRevision);
    const score = paused.metrics?.find((m) => m.name === "canary-score");
    expect(score).toMatchObject({ outcome: "inconclusive" });
    expect(score?.compared?.[0]).toMatchObject({ classification: "NoData" });
  });
});
