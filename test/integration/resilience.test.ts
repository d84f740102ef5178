import { describe, expect, test } from "vitest";
import { eventually } from "./support/cluster.ts";
import { startController } from "./support/controller.ts";
import { Podinfo, withController } from "./support/rollouts.ts";

const world = withController();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Write requests (anything but GET) the controller has made, from its own /metrics. */
async function writes(port: number): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  let total = 0;
  for (const m of text.matchAll(
    /^fledge_apiserver_requests_total\{method="(\w+)",result="\w+"\} (\d+)/gm,
  )) {
    if (m[1] !== "GET") total += Number(m[2]);
  }
  return total;
}

describe("resilience", () => {
  test("an unchanged healthy Rollout costs zero writes over a minute", async () => {
    await Podinfo.healthy(world.client, "idle", [{ setWeight: 50 }]);
    const port = await world.controller.metricsPort();
    await sleep(2_000);
    const before = await writes(port);
    await sleep(60_000);
    expect(await writes(port)).toBe(before);
  }, 90_000);

  test("killed with SIGKILL mid-rollout and restarted, the controller resumes at the same step", async () => {
    const { p } = await Podinfo.healthy(world.client, "sigkill", [
      { setWeight: 20 },
      { pause: { duration: "2s" } },
      { setWeight: 40 },
      { pause: { duration: "4s" } },
      { setWeight: 60 },
      { pause: { duration: "2s" } },
    ]);
    const weights = p.recordWeights();
    await p.newRevision("2");
    await eventually("weight 40", () => (weights.seen.includes(40) ? true : undefined));
    // The split is written before status, so wait for status to record the 4 s pause at 40:
    // killed earlier, a status write already on the wire would still land after the kill.
    const before = await eventually("status at the pause after 40", async () => {
      const r = await p.rollout();
      return r.status?.currentStepIndex === 3 ? r : undefined;
    });
    try {
      expect(await world.controller.kill("SIGKILL")).toBe(null);
      await sleep(500);
      const frozen = await p.rollout();
      expect(frozen.status?.currentStepIndex).toBe(before.status?.currentStepIndex);
    } finally {
      // A failure here must not leave the file's later tests without a controller.
      world.controller = startController(world.kubeconfig, world.dir);
    }
    await p.phase("Healthy", 60_000);
    await weights.stop();
    // Nothing went backward, nothing repeated, nothing skipped.
    expect(weights.seen).toEqual([0, 20, 40, 60, 0]);
  }, 90_000);

  test("someone else's writes to the Rollout between read and write are retried, not lost", async () => {
    const { p, initial } = await Podinfo.healthy(world.client, "conflict", [
      { setWeight: 20 },
      { pause: { duration: "1s" } },
      { setWeight: 50 },
    ]);
    let running = true;
    let n = 0;
    const writer = (async () => {
      while (running) {
        await p.annotate({ "example.com/touched": String(++n) });
        await sleep(5);
      }
    })();
    await p.newRevision("2");
    await eventually("promotion", async () => {
      const r = await p.rollout();
      return r.status?.phase === "Healthy" &&
        r.status.stableRevision !== initial.status?.stableRevision
        ? r
        : undefined;
    });
    running = false;
    await writer;
    const final = await p.rollout();
    expect(final.metadata.annotations?.["example.com/touched"]).toBe(String(n));
    expect(world.controller.logs()).toContain("conflict; reading the rollout again");
  }, 60_000);
});
