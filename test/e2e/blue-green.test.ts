// Blue/green end to end: the controller under deploy/'s ServiceAccount, the simulator following
// the TrafficSplit, and a load-testing webhook (the simulator's /load) calling the preview
// Service `podinfo-canary`, which the apex sends nothing until the switch. The preview is judged
// on that traffic through SMI TrafficMetrics; a bad revision is a real change of the pod template.

import { afterAll, beforeAll, expect, inject, test } from "vitest";
import type { KubeClient } from "../../src/kube/client.ts";
import { adminClient, eventually, eventWith, ok, paths } from "../integration/support/cluster.ts";
import { Podinfo, type RolloutJson } from "../integration/support/rollouts.ts";
import { controllerOnPrometheus } from "./support/controller.ts";
import { type Receiver, webhookReceiver } from "./support/hooks.ts";
import { requestsBy } from "./support/simulator.ts";

type Status = NonNullable<RolloutJson["status"]> & {
  failedChecks?: number;
  metrics?: { name: string; outcome: string }[];
};

const INTERVAL_S = 3;

let client: KubeClient;
let hooks: Receiver;
controllerOnPrometheus("info");

beforeAll(async () => {
  client = await adminClient();
  hooks = await webhookReceiver();
});

afterAll(async () => {
  await hooks?.close();
});

const status = async (p: Podinfo) => ((await p.rollout()).status ?? {}) as Status;

/** The simulator's load test of a namespace's preview Service, as a pre-rollout webhook. */
const loadTest = (ns: string) => ({
  name: "load-test",
  type: "pre-rollout",
  url: `${new URL(inject("simulatorMetricsUrl")).origin}/load/${ns}/podinfo-canary?seconds=300`,
});

/** A healthy podinfo rolled out blue/green, judged on SMI TrafficMetrics of the preview. */
async function blueGreen(prefix: string, settings: object, webhooks: object[] = []) {
  const analysis = {
    interval: `${INTERVAL_S}s`,
    minRequestCount: 5,
    failureLimit: 1,
    metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }],
    webhooks,
  };
  const { p, initial } = await Podinfo.healthy(client, prefix, [], {
    strategy: "blueGreen",
    blueGreen: settings,
    analysis,
  });
  // Its URL names the namespace, known once made; a pre-rollout webhook is asked only later.
  ok(
    await client.patch(`${paths.rollouts(p.ns)}/podinfo`, {
      spec: { analysis: { webhooks: [loadTest(p.ns), ...webhooks] } },
    }),
    "the load test",
  );
  return { p, stable: initial.status?.stableRevision };
}

type PrimarySeen = { revision: string | undefined; replicas: number; ready: number };

/**
 * Samples the primary Deployment every 25 ms, keeping each change of its revision, replicas and
 * ready replicas, until stopped: what an old version "never scaled down" must show.
 */
function recordPrimary(p: Podinfo) {
  const seen: PrimarySeen[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const got = await p.client.get<{
        metadata: { annotations?: Record<string, string> };
        spec: { replicas: number };
        status?: { readyReplicas?: number };
      }>(`${paths.deployments(p.ns)}/podinfo-primary`);
      if (got.ok) {
        const now: PrimarySeen = {
          revision: got.value.metadata.annotations?.["fledge.dev/revision"],
          replicas: got.value.spec.replicas,
          ready: got.value.status?.readyReplicas ?? 0,
        };
        const last = seen.at(-1);
        if (!last || JSON.stringify(last) !== JSON.stringify(now)) seen.push(now);
      }
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
  return {
    seen,
    stop: async () => {
      running = false;
      await loop;
    },
  };
}

const settled = (p: Podinfo, stable: string | undefined, phase: "Healthy" | "Failed") =>
  eventually(
    `${p.ns}/podinfo to settle ${phase}`,
    async () => {
      const s = await status(p);
      if (phase === "Healthy" && s.phase === "Failed") throw new Error(`rolled back: ${s.message}`);
      const moved = phase === "Healthy" ? s.stableRevision !== stable : s.canaryRevision;
      return s.phase === phase && moved ? s : undefined;
    },
    180_000,
  );

test("a good revision is previewed on its own traffic, takes all traffic in one write, and the old version retires after the delay", async () => {
  const { p, stable } = await blueGreen("bg-good", { previewChecks: 2, scaleDownDelaySeconds: 6 });
  const weights = p.recordWeights();
  const primary = recordPrimary(p);
  await p.newRevision("v2");
  const previewing = await eventually("the preview judged", async () => {
    const s = await status(p);
    return s.metrics?.some((m) => m.outcome === "passed") ? s : undefined;
  });
  // The preview is judged while the apex sends it nothing, on the load test's requests alone.
  expect(previewing.canaryWeight).toBe(0);
  expect(await p.weight()).toBe(0);
  expect(await p.replicas("podinfo")).toBe(2);
  // By the split that routed them: none for the load test's, the apex's split for the users'.
  const preview = await requestsBy(p.ns, "split", "deployment");
  expect(preview.get("|podinfo") ?? 0).toBeGreaterThan(0);
  expect(preview.get("podinfo|podinfo") ?? 0).toBe(0);
  expect(preview.get("podinfo|podinfo-primary") ?? 0).toBeGreaterThan(0);
  expect(previewing.conditions?.find((c) => c.type === "Progressing")).toMatchObject({
    reason: "Previewing",
  });

  const healthy = await settled(p, stable, "Healthy");
  await weights.stop();
  await primary.stop();
  expect(weights.seen).toEqual([0, 100, 0]);
  // The primary ran the old revision, all its pods ready, until after the switch; then it took
  // the new one while the canary held all traffic.
  const switchedAt = weights.at[1] as number;
  const backAt = weights.at[2] as number;
  expect(backAt - switchedAt).toBeGreaterThanOrEqual(6_000);
  const revisions = [...new Set(primary.seen.map((s) => s.revision))];
  expect(revisions).toEqual([stable, healthy.stableRevision]);
  expect(primary.seen.every((s) => s.replicas === 2)).toBe(true);
  expect((await eventWith(client, p.ns, "Switched")).message).toMatch(
    /^all traffic to revision \w+; revision \w+ keeps running for 6s$/,
  );
  await eventually("the canary scaled to 0", async () =>
    (await p.replicas("podinfo")) === 0 ? true : undefined,
  );
});

test("a bad revision caught by its preview never receives apex traffic", async () => {
  const { p, stable } = await blueGreen("bg-bad", { previewChecks: 2 });
  const weights = p.recordWeights();
  await p.newRevision("v2", { "fledge.dev/sim-success-rate": "0.7" });
  const failed = await settled(p, stable, "Failed");
  await weights.stop();
  expect(weights.seen).toEqual([0]);
  expect(failed.stableRevision).toBe(stable);
  expect((await eventWith(client, p.ns, "AnalysisFailed", "Warning")).message).toMatch(
    /request-success-rate: \d+(\.\d+)? < min 99/,
  );
  const served = await requestsBy(p.ns, "split", "deployment");
  expect(served.get("|podinfo") ?? 0).toBeGreaterThan(0);
  expect(served.get("podinfo|podinfo") ?? 0).toBe(0);
});

test("a bad revision caught after the switch is switched back within one check, to an old version never scaled down", async () => {
  const smoke = `/${Date.now()}/smoke`;
  const { p, stable } = await blueGreen("bg-late", { scaleDownDelaySeconds: 120 }, [
    { name: "smoke", type: "rollout", url: `${hooks.url}${smoke}` },
  ]);
  const weights = p.recordWeights();
  const primary = recordPrimary(p);
  await p.newRevision("v2");
  await eventually(
    "the switch",
    async () => (weights.seen.includes(100) ? true : undefined),
    120_000,
  );
  // After the switch the smoke test starts failing: the next check is the one that must act.
  const failingFrom = hooks.received.length;
  hooks.answer(smoke, 500);
  const failed = await settled(p, stable, "Failed");
  await weights.stop();
  await primary.stop();
  expect(weights.seen).toEqual([0, 100, 0]);
  const smokesUntilBack = hooks.received.slice(failingFrom).filter((r) => r.path === smoke).length;
  expect(smokesUntilBack).toBe(1);
  expect(failed.failedChecks).toBe(1);
  // The old version served before, during and after: never another revision, never scaled down.
  expect(primary.seen.map((s) => s.revision).every((r) => r === stable)).toBe(true);
  expect(primary.seen.every((s) => s.replicas === 2 && s.ready === 2)).toBe(true);
});
