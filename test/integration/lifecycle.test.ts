import { describe, expect, test } from "vitest";
import {
  deploymentManifest,
  eventually,
  newNamespace,
  ok,
  paths,
  rolloutManifest,
} from "./support/cluster.ts";
import { Problems } from "./support/problems.ts";
import { Podinfo, withController } from "./support/rollouts.ts";

const world = withController();
const problems = new Problems(() => world.client);

const spec = (target: string, extra: Record<string, unknown> = {}) => ({
  targetRef: { name: target },
  service: { port: 9898 },
  steps: [{ setWeight: 50 }],
  ...extra,
});

/** A Deployment whose pods carry `labels` and whose selector is `selector`. */
function labelled(
  ns: string,
  name: string,
  selector: Record<string, string>,
  labels: Record<string, string> = selector,
) {
  const d = deploymentManifest(ns, name, 1);
  return {
    ...d,
    spec: {
      ...d.spec,
      selector: { matchLabels: selector },
      template: { ...d.spec.template, metadata: { ...d.spec.template.metadata, labels } },
    },
  };
}

async function create(path: string, body: unknown, what: string) {
  ok(await world.client.create(path, body), what);
}

async function gone(path: string) {
  ok(await world.client.delete(path), `delete ${path}`);
  await eventually(`${path} gone`, async () =>
    (await world.client.get(path)).ok ? undefined : true,
  );
}

type EndpointSlices = { items: { endpoints?: unknown[] }[] };

async function endpoints(ns: string, service: string) {
  const slices = ok(
    await world.client.get<EndpointSlices>(
      `/apis/discovery.k8s.io/v1/namespaces/${ns}/endpointslices?labelSelector=kubernetes.io%2Fservice-name%3D${service}`,
    ),
    "endpointslices",
  );
  return slices.items.reduce((n, s) => n + (s.endpoints?.length ?? 0), 0);
}

describe("every problem the controller reports clears by itself once its cause is gone", () => {
  test("TargetNotFound: the target is created", async () => {
    const ns = await newNamespace(world.client, "notarget");
    await create(paths.rollouts(ns), rolloutManifest(ns, "podinfo", spec("podinfo")), "rollout");
    const c = await problems.reported(ns, "podinfo", "TargetNotFound");
    expect(c.message).toContain(`Deployment ${ns}/podinfo does not exist`);
    await problems.clears(ns, "podinfo", "TargetNotFound", () =>
      create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 1), "target"),
    );
    await problems.serving(ns, "podinfo");
  });

  test("SelectorUnsupported: the target is made again with matchLabels", async () => {
    const ns = await newNamespace(world.client, "selector");
    const bad = deploymentManifest(ns, "podinfo", 1);
    bad.spec.selector = {
      matchExpressions: [{ key: "app", operator: "In", values: ["podinfo"] }],
    } as never;
    await create(paths.deployments(ns), bad, "target");
    await create(paths.rollouts(ns), rolloutManifest(ns, "podinfo", spec("podinfo")), "rollout");
    expect((await problems.reported(ns, "podinfo", "SelectorUnsupported")).message).toContain(
      "matchLabels",
    );
    // The stable version keeps serving: Fledge touched nothing.
    const target = ok(
      await world.client.get<{ spec: { replicas: number } }>(`${paths.deployments(ns)}/podinfo`),
      "target",
    );
    expect(target.spec.replicas).toBe(1);
    // A selector cannot be changed: the fix is a new Deployment.
    await gone(`${paths.deployments(ns)}/podinfo`);
    await problems.reported(ns, "podinfo", "TargetNotFound");
    await problems.clears(ns, "podinfo", "SelectorUnsupported", () =>
      create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 1), "target"),
    );
    await problems.serving(ns, "podinfo");
  });

  test("PrimaryConflict: someone else's Deployment NAME-primary is deleted", async () => {
    const ns = await newNamespace(world.client, "conflict");
    // Its pods do not carry the labels the primary's selector would have, so only the name clashes.
    await create(
      paths.deployments(ns),
      labelled(ns, "podinfo-primary", { app: "squatter" }),
      "squatter",
    );
    await create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 1), "target");
    await create(paths.rollouts(ns), rolloutManifest(ns, "podinfo", spec("podinfo")), "rollout");
    expect((await problems.reported(ns, "podinfo", "PrimaryConflict")).message).toContain(
      "not managed by this Rollout",
    );
    await problems.clears(ns, "podinfo", "PrimaryConflict", () =>
      world.client.delete(`${paths.deployments(ns)}/podinfo-primary`),
    );
    await problems.serving(ns, "podinfo");
  });

  test("SelectorOverlap: a second Deployment with the first's selector; the older Rollout keeps serving", async () => {
    const ns = await newNamespace(world.client, "overlap");
    const steady = labelled(ns, "steady", { app: "steady" });
    await create(
      paths.deployments(ns),
      { ...steady, spec: { ...steady.spec, replicas: 2 } },
      "steady",
    );
    await create(paths.rollouts(ns), rolloutManifest(ns, "steady", spec("steady")), "steady");
    await problems.serving(ns, "steady");
    await eventually("steady-primary's two endpoints", async () =>
      (await endpoints(ns, "steady-primary")) === 2 ? true : undefined,
    );

    await create(paths.deployments(ns), labelled(ns, "clash", { app: "steady" }), "clash");
    await create(paths.rollouts(ns), rolloutManifest(ns, "clash", spec("clash")), "clash");
    const c = await problems.reported(ns, "clash", "SelectorOverlap");
    expect(c.message).toContain("Rollout steady");
    // Nothing was made for the newer Rollout, and the older one is as it was.
    for (const path of [
      `${paths.deployments(ns)}/clash-primary`,
      `${paths.services(ns)}/clash-primary`,
      `${paths.services(ns)}/clash-canary`,
      `${paths.services(ns)}/clash`,
      `${paths.splits(ns)}/clash`,
    ])
      expect((await world.client.get(path)).ok, path).toBe(false);
    expect(await endpoints(ns, "steady-primary")).toBe(2);
    await problems.serving(ns, "steady");

    // A selector cannot be changed: the fix is the Deployment made again with labels of its own.
    await gone(`${paths.deployments(ns)}/clash`);
    await problems.reported(ns, "clash", "TargetNotFound");
    await problems.clears(ns, "clash", "SelectorOverlap", () =>
      create(paths.deployments(ns), labelled(ns, "clash", { app: "clash" }), "clash"),
    );
    await problems.serving(ns, "clash");
    expect(await endpoints(ns, "steady-primary")).toBe(2);
  });

  test("SelectorOverlap: a plain Deployment whose pods the canary Service would select, relabelled", async () => {
    const { p } = await Podinfo.healthy(world.client, "plain", [{ setWeight: 50 }]);
    // Made after the Rollout: its creation wakes the Rollout through the label index alone.
    await create(
      paths.deployments(p.ns),
      labelled(p.ns, "worker", { role: "worker" }, { role: "worker", app: "podinfo" }),
      "worker",
    );
    expect((await problems.reported(p.ns, "podinfo", "SelectorOverlap")).message).toContain(
      "Deployment worker, which no Rollout manages",
    );
    await problems.clears(p.ns, "podinfo", "SelectorOverlap", () =>
      world.client.patch(`${paths.deployments(p.ns)}/worker`, {
        spec: { template: { metadata: { labels: { app: null } } } },
      }),
    );
    await problems.serving(p.ns, "podinfo");
  });

  test("TargetPortNotFound: a named targetPort no container defines, then one it does", async () => {
    const ns = await newNamespace(world.client, "port");
    await create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 1), "target");
    const named = spec("podinfo", { service: { port: 9898, targetPort: "web" } });
    await create(paths.rollouts(ns), rolloutManifest(ns, "podinfo", named), "rollout");
    expect((await problems.reported(ns, "podinfo", "TargetPortNotFound")).message).toContain(
      "service.targetPort web names no TCP port of Deployment podinfo's containers (it has http)",
    );
    await problems.clears(ns, "podinfo", "TargetPortNotFound", () =>
      world.client.patch(`${paths.rollouts(ns)}/podinfo`, {
        spec: { service: { targetPort: "http" } },
      }),
    );
    await problems.serving(ns, "podinfo");
  });

  test("a numeric targetPort no container declares is left alone", async () => {
    const ns = await newNamespace(world.client, "numeric");
    await create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 1), "target");
    const numeric = spec("podinfo", { service: { port: 80, targetPort: 8080 } });
    await create(paths.rollouts(ns), rolloutManifest(ns, "podinfo", numeric), "rollout");
    await problems.serving(ns, "podinfo");
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
