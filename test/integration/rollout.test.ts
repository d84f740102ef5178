import { describe, expect, test } from "vitest";
import { UNREADY_ANNOTATION } from "../harness/fake-kubelet.ts";
import { eventually, ok, paths } from "./support/cluster.ts";
import { Podinfo, withController } from "./support/rollouts.ts";

const world = withController();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("a Rollout on the real control plane", () => {
  test("initialises, then promotes a new revision through its steps", async () => {
    const { p, initial } = await Podinfo.healthy(world.client, "promote", [
      { setWeight: 20 },
      { pause: { duration: "2s" } },
      { setWeight: 60 },
      { pause: { duration: "2s" } },
    ]);
    expect(await p.replicas("podinfo-primary")).toBe(2);
    await eventually("the target scaled to 0", async () =>
      (await p.replicas("podinfo")) === 0 ? true : undefined,
    );

    const weights = p.recordWeights();
    await p.newRevision("2");
    await eventually("the rollout to start", async () =>
      (await p.rollout()).status?.phase !== "Healthy" ? true : undefined,
    );
    const done = await p.promoted(initial);
    await eventually("the canary scaled down", async () =>
      (await p.replicas("podinfo")) === 0 ? true : undefined,
    );
    await weights.stop();
    expect(weights.seen).toEqual([0, 20, 60, 0]);
    const promoted = ok(
      await world.client.get<{ metadata: { annotations: Record<string, string> } }>(
        `${paths.deployments(p.ns)}/podinfo-primary`,
      ),
      "primary",
    );
    expect(promoted.metadata.annotations["fledge.dev/revision"]).toBe(done.status?.stableRevision);
  });
});

describe("a person steering", () => {
  test("a pause step without duration waits until resumed; the pause annotation holds any step", async () => {
    const { p } = await Podinfo.healthy(world.client, "pause", [
      { setWeight: 20 },
      { pause: {} },
      { setWeight: 50 },
      { pause: { duration: "1s" } },
    ]);
    await p.newRevision("2");
    const paused = await p.phase("Paused");
    expect(paused.status?.canaryWeight).toBe(20);
    expect(paused.status?.conditions?.find((c) => c.type === "Paused")).toMatchObject({
      status: "True",
      reason: "StepPause",
    });
    await sleep(3000);
    expect((await p.rollout()).status?.canaryWeight).toBe(20);

    await p.annotate({ "fledge.dev/pause": "true", "fledge.dev/resume": "1" });
    await eventually("the step pause to end and the person's to hold", async () => {
      const reasons = (await p.rollout()).status?.pauseReasons?.map((r) => r.reason);
      return reasons?.includes("Person") && !reasons.includes("Step") ? true : undefined;
    });
    await sleep(2000);
    expect((await p.rollout()).status?.canaryWeight).toBe(20);

    await p.annotate({ "fledge.dev/pause": null });
    await p.phase("Healthy");
  });

  test("abort rolls back: weight 0, canary scaled down, phase and condition say why", async () => {
    const { p } = await Podinfo.healthy(world.client, "abort", [{ setWeight: 30 }, { pause: {} }]);
    await p.newRevision("2");
    await p.phase("Paused");
    await p.annotate({ "fledge.dev/abort": "now" });
    const aborted = await p.phase("Aborted");
    expect(aborted.status?.canaryWeight).toBe(0);
    expect(aborted.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "Aborted",
    });
    await eventually("the canary scaled down", async () =>
      (await p.replicas("podinfo")) === 0 ? true : undefined,
    );
    expect(await p.weight()).toBe(0);
  });
});

describe("undoing a promotion", () => {
  test("abort while the primary takes a revision that never becomes ready returns it to the stable revision", async () => {
    const { p, initial } = await Podinfo.healthy(world.client, "undo", [
      { setWeight: 50 },
      { pause: {} },
    ]);
    ok(
      await world.client.patch(`${paths.deployments(p.ns)}/podinfo`, {
        spec: { template: { metadata: { annotations: { [UNREADY_ANNOTATION]: "true" } } } },
      }),
      "an unready revision",
    );
    await p.phase("Progressing");
    await p.annotate({ "fledge.dev/promote-full": "1" });
    await p.phase("Promoting");
    const primaryRevision = async () =>
      ok(
        await world.client.get<{ metadata: { annotations: Record<string, string> } }>(
          `${paths.deployments(p.ns)}/podinfo-primary`,
        ),
        "primary",
      ).metadata.annotations["fledge.dev/revision"];
    await eventually("the primary to take the canary's revision", async () =>
      (await primaryRevision()) !== initial.status?.stableRevision ? true : undefined,
    );
    await p.annotate({ "fledge.dev/abort": "1" });
    const aborted = await p.phase("Aborted");
    expect(aborted.status?.stableRevision).toBe(initial.status?.stableRevision);
    expect(await primaryRevision()).toBe(initial.status?.stableRevision);
    const primary = ok(
      await world.client.get<{ status: { availableReplicas?: number; updatedReplicas?: number } }>(
        `${paths.deployments(p.ns)}/podinfo-primary`,
      ),
      "primary",
    );
    expect(primary.status).toMatchObject({ availableReplicas: 2, updatedReplicas: 2 });
    expect(await p.weight()).toBe(0);
  });
});
