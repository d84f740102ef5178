// Blue/green steered by hand through the kubectl plugin, on the real control plane: the preview
// held for a person, the pause annotation holding the switch, promote switching, abort sending
// all traffic back in one write to a primary that never changed.

import { expect, test } from "vitest";
import { cli } from "./support/cli.ts";
import { eventually } from "./support/cluster.ts";
import { Podinfo, withController } from "./support/rollouts.ts";

const world = withController();

test("a preview without autoPromotion waits for promote, a pause holds the switch, and abort after it switches back", async () => {
  const { p, initial } = await Podinfo.healthy(world.client, "bg-steer", [], {
    strategy: "blueGreen",
    blueGreen: { autoPromotion: false, scaleDownDelaySeconds: 600 },
  });
  const stable = initial.status?.stableRevision;
  const weights = p.recordWeights();
  await p.newRevision("v2");
  const held = await p.phase("Paused");
  expect(held.status?.conditions?.find((c) => c.type === "Paused")).toMatchObject({
    reason: "StepPause",
  });
  expect(await p.weight()).toBe(0);
  expect(await p.replicas("podinfo")).toBe(2);
  const got = await cli(["get", "rollout", "podinfo", "-n", p.ns]);
  expect(got.stdout).toContain("Strategy:   blue/green (step 1/1 of the preview)");

  // A person's pause outlasts the promote: nothing switches while it is there.
  expect((await cli(["pause", "podinfo", "-n", p.ns])).code).toBe(0);
  expect((await cli(["promote", "podinfo", "-n", p.ns])).code).toBe(0);
  await eventually("the promote recorded", async () => {
    const r = await p.rollout();
    return (r.status as { appliedActions?: { promote?: string } } | undefined)?.appliedActions
      ?.promote
      ? r
      : undefined;
  });
  expect(await p.weight()).toBe(0);
  expect((await cli(["resume", "podinfo", "-n", p.ns])).code).toBe(0);
  await eventually("the switch", async () => ((await p.weight()) === 100 ? true : undefined));
  const switched = await p.phase("Progressing");
  expect(switched.status?.conditions?.find((c) => c.type === "Progressing")).toMatchObject({
    reason: "Switched",
  });

  expect((await cli(["abort", "podinfo", "-n", p.ns])).code).toBe(0);
  const aborted = await p.phase("Aborted");
  await weights.stop();
  expect(weights.seen).toEqual([0, 100, 0]);
  expect(aborted.status?.stableRevision).toBe(stable);
  const primary = await world.client.get<{ metadata: { annotations: Record<string, string> } }>(
    `/apis/apps/v1/namespaces/${p.ns}/deployments/podinfo-primary`,
  );
  expect(primary.ok && primary.value.metadata.annotations["fledge.dev/revision"]).toBe(stable);
  await eventually("the preview scaled to 0", async () =>
    (await p.replicas("podinfo")) === 0 ? true : undefined,
  );
});
