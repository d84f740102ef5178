import { describe, expect, test } from "vitest";
import {
  deploymentManifest,
  eventually,
  newNamespace,
  ok,
  paths,
  rolloutManifest,
} from "./support/cluster.ts";
import { Podinfo, type RolloutJson, withController } from "./support/rollouts.ts";

const world = withController();

type EventJson = {
  items: { reason: string; type: string; message: string; involvedObject: { name: string } }[];
};

async function events(ns: string) {
  return ok(await world.client.get<EventJson>(paths.events(ns)), "events").items;
}

async function condition(ns: string, type: string, reason: string) {
  return eventually(`${type} ${reason} in ${ns}`, async () => {
    const r = ok(await world.client.get<RolloutJson>(`${paths.rollouts(ns)}/podinfo`), "rollout");
    return r.status?.conditions?.find((c) => c.type === type && c.reason === reason);
  });
}

const spec = {
  targetRef: { name: "podinfo" },
  service: { port: 9898 },
  steps: [{ setWeight: 50 }],
};

describe("what only the controller can judge becomes a condition and an Event, and recovers once fixed", () => {
  test("a missing target", async () => {
    const ns = await newNamespace(world.client, "notarget");
    ok(
      await world.client.create(paths.rollouts(ns), rolloutManifest(ns, "podinfo", spec)),
      "rollout",
    );
    const c = await condition(ns, "SpecValid", "TargetNotFound");
    expect(c.status).toBe("False");
    expect(c.message).toContain(`Deployment ${ns}/podinfo does not exist`);
    await eventually("a TargetNotFound Event", async () =>
      (await events(ns)).find((e) => e.reason === "TargetNotFound" && e.type === "Warning")
        ? true
        : undefined,
    );
    ok(
      await world.client.create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 1)),
      "deployment",
    );
    await condition(ns, "SpecValid", "Valid");
    await condition(ns, "Ready", "Serving");
  });

  test("a target selecting its pods by matchExpressions, replaced by one with matchLabels", async () => {
    const ns = await newNamespace(world.client, "selector");
    const bad = deploymentManifest(ns, "podinfo", 1);
    bad.spec.selector = {
      matchExpressions: [{ key: "app", operator: "In", values: ["podinfo"] }],
    } as never;
    ok(await world.client.create(paths.deployments(ns), bad), "deployment");
    ok(
      await world.client.create(paths.rollouts(ns), rolloutManifest(ns, "podinfo", spec)),
      "rollout",
    );
    const c = await condition(ns, "SpecValid", "SelectorUnsupported");
    expect(c.message).toContain("matchLabels");
    await eventually("a SelectorUnsupported Event", async () =>
      (await events(ns)).some((e) => e.reason === "SelectorUnsupported") ? true : undefined,
    );
    // The stable version keeps serving: Fledge touched nothing.
    const target = ok(
      await world.client.get<{ spec: { replicas: number } }>(`${paths.deployments(ns)}/podinfo`),
      "target",
    );
    expect(target.spec.replicas).toBe(1);
    ok(await world.client.delete(`${paths.deployments(ns)}/podinfo`), "delete");
    await eventually("the old target gone", async () =>
      (await world.client.get(`${paths.deployments(ns)}/podinfo`)).ok ? undefined : true,
    );
    ok(
      await world.client.create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 1)),
      "deployment",
    );
    await condition(ns, "Ready", "Serving");
  });

  test("a primary name already taken by someone else's Deployment", async () => {
    const ns = await newNamespace(world.client, "clash");
    ok(
      await world.client.create(
        paths.deployments(ns),
        deploymentManifest(ns, "podinfo-primary", 1),
      ),
      "squatter",
    );
    ok(
      await world.client.create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 1)),
      "deployment",
    );
    ok(
      await world.client.create(paths.rollouts(ns), rolloutManifest(ns, "podinfo", spec)),
      "rollout",
    );
    expect((await condition(ns, "SpecValid", "PrimaryConflict")).message).toContain(
      "not managed by this Rollout",
    );
    ok(await world.client.delete(`${paths.deployments(ns)}/podinfo-primary`), "delete squatter");
    await condition(ns, "Ready", "Serving");
  });
});

describe("deleting a Rollout", () => {
  test("cleans up what Fledge made and leaves the app serving through its own Deployment", async () => {
    const { p } = await Podinfo.healthy(world.client, "delete", [{ setWeight: 50 }]);
    await eventually("the target scaled down", async () =>
      (await p.replicas("podinfo")) === 0 ? true : undefined,
    );
    ok(await world.client.delete(`${paths.rollouts(p.ns)}/podinfo`), "delete rollout");
    await eventually("the Rollout gone", async () =>
      (await world.client.get(`${paths.rollouts(p.ns)}/podinfo`)).ok ? undefined : true,
    );
    const target = await eventually("the target serving again", async () => {
      const t = ok(
        await world.client.get<{
          spec: { replicas: number };
          status?: { availableReplicas?: number };
        }>(`${paths.deployments(p.ns)}/podinfo`),
        "target",
      );
      return t.status?.availableReplicas === 2 ? t : undefined;
    });
    expect(target.spec.replicas).toBe(2);
    await eventually("the primary garbage-collected", async () =>
      (await world.client.get(`${paths.deployments(p.ns)}/podinfo-primary`)).ok ? undefined : true,
    );
    await eventually("the split garbage-collected", async () =>
      (await world.client.get(`${paths.splits(p.ns)}/podinfo`)).ok ? undefined : true,
    );
    const apex = ok(
      await world.client.get<{
        metadata: { ownerReferences?: unknown[] };
        spec: { selector: Record<string, string> };
      }>(`${paths.services(p.ns)}/podinfo`),
      "apex",
    );
    expect(apex.spec.selector).toEqual({ app: "podinfo" });
    expect(apex.metadata.ownerReferences).toBeUndefined();
    // A Rollout already gone when its finalizer is taken off is finalized, not a failure.
    const failures = world.controller
      .logs()
      .split("\n")
      .filter((line) => line.includes(p.ns) && line.includes("reconcile failed"));
    expect(failures).toEqual([]);
  });
});
