// Whether the mesh really moved the traffic, end to end: the simulator told by an annotation on
// the apex Service to route as a mesh that ignores TrafficSplits (everything to the primary), a
// real Prometheus scraping it, the controller under deploy/'s ServiceAccount.

import { beforeAll, expect, test } from "vitest";
import type { KubeClient } from "../../src/kube/client.ts";
import { adminClient, eventually, eventWith, ok, paths } from "../integration/support/cluster.ts";
import { Podinfo, type RolloutJson, type Steps } from "../integration/support/rollouts.ts";
import { controllerOnPrometheus } from "./support/controller.ts";

type Status = NonNullable<RolloutJson["status"]> & { failedChecks?: number };

const IGNORE_SPLITS = "fledge.dev/sim-ignore-splits";

let client: KubeClient;
controllerOnPrometheus("info");

beforeAll(async () => {
  client = await adminClient();
});

const status = async (p: Podinfo) => ((await p.rollout()).status ?? {}) as Status;
const condition = (s: Status, type: string) => s.conditions?.find((c) => c.type === type);

const steps: Steps = [{ setWeight: 40 }, { setWeight: 80 }];

/**
 * The namespace's success rate on Linkerd's metrics, primary and canary together: a metric that
 * passes whether or not the canary serves, so only the weight's verification can hold the step.
 * Its mesh says where the requests of each Deployment are counted.
 */
const namespaceSuccess = {
  name: "namespace-success-rate",
  thresholdRange: { min: 99 },
  provider: {
    type: "prometheus",
    mesh: "linkerd",
    query:
      'sum(increase(response_total{namespace="{{namespace}}",direction="inbound",classification!="failure"}[{{interval}}])) / sum(increase(response_total{namespace="{{namespace}}",direction="inbound"}[{{interval}}])) * 100',
  },
};

const analysis = (extra: object = {}) => ({
  interval: "3s",
  minRequestCount: 5,
  inconclusiveLimit: 3,
  metrics: [namespaceSuccess],
  ...extra,
});

/** Waits for the Rollout's status to show the weight not observed. */
const weightNotObserved = (p: Podinfo) =>
  eventually(
    "WeightObserved False",
    async () => {
      const s = await status(p);
      return condition(s, "WeightObserved")?.status === "False" ? s : undefined;
    },
    60_000,
  );

/** Waits for the new revision to be promoted; a rollback ends the wait as a failure. */
const promoted = (p: Podinfo, stable: string | undefined) =>
  eventually(
    "promoted",
    async () => {
      const s = await status(p);
      if (s.phase === "Failed") throw new Error(`rolled back: ${s.message}`);
      return s.phase === "Healthy" && s.stableRevision !== stable ? s : undefined;
    },
    120_000,
  );

/** A healthy podinfo whose apex the simulated mesh routes as though its split were not there. */
async function ignoredSplit(prefix: string, extra: Record<string, unknown>) {
  const { p, initial } = await Podinfo.healthy(client, prefix, steps, extra);
  ok(
    await client.patch(`${paths.services(p.ns)}/podinfo`, {
      metadata: { annotations: { [IGNORE_SPLITS]: "true" } },
    }),
    "the mesh ignores the split",
  );
  return { p, stable: initial.status?.stableRevision };
}

test("a mesh that ignores the split holds the rollout at 40% with WeightNotObserved and an Event, neither promoted nor rolled back", async () => {
  const { p, stable } = await ignoredSplit("weight-ignored", { analysis: analysis() });
  await p.newRevision("v2");
  const held = await weightNotObserved(p);
  expect(condition(held, "WeightObserved")).toMatchObject({
    reason: "WeightNotObserved",
    message: expect.stringMatching(
      /^canary served 0\.0% of \d+ requests; the route says 40% \(\d+ to \d+ canary requests would agree\)$/,
    ),
  });
  const event = await eventWith(client, p.ns, "WeightNotObserved", "Warning");
  expect(event.message).toMatch(/the route says 40%/);
  // Inconclusive, never failed: after inconclusiveLimit checks the rollout pauses where it is.
  const paused = (await p.phase("Paused", 60_000)).status as Status;
  expect(paused.canaryWeight).toBe(40);
  expect(paused.currentStepIndex).toBe(0);
  expect(paused.failedChecks).toBe(0);
  expect(condition(paused, "Paused")).toMatchObject({ reason: "InconclusiveAnalysis" });
  expect(await p.weight()).toBe(40);
  const after = await status(p);
  expect(after.stableRevision).toBe(stable);
  expect(after.phase).toBe("Paused");

  // The mesh mended: the next whole window at 40% agrees, the pause clears, the rollout goes on.
  ok(
    await client.patch(`${paths.services(p.ns)}/podinfo`, {
      metadata: { annotations: { [IGNORE_SPLITS]: null } },
    }),
    "the mesh follows the split",
  );
  const healthy = await promoted(p, stable);
  expect(condition(healthy, "WeightObserved")).toMatchObject({
    status: "True",
    reason: "WeightObserved",
  });
});

test("with verifyWeight: false the same rollout on the same mesh is promoted", async () => {
  const { p, stable } = await ignoredSplit("weight-off", {
    analysis: analysis({ verifyWeight: false }),
  });
  await p.newRevision("v2");
  const healthy = await promoted(p, stable);
  expect(condition(healthy, "WeightObserved")).toBeUndefined();
});

test("on SMI TrafficMetrics, the canary's and the primary's counts name the same disagreement", async () => {
  const { p } = await ignoredSplit("weight-smi", {
    analysis: analysis({
      metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }],
    }),
  });
  await p.newRevision("v2");
  const held = await weightNotObserved(p);
  expect(condition(held, "WeightObserved")?.message).toMatch(
    /^canary served 0\.0% of \d+ requests; the route says 40%/,
  );
  expect(held.failedChecks ?? 0).toBe(0);
});
