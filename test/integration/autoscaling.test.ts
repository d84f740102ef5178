import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, test } from "vitest";
import type { RolloutSpec } from "../../src/api/rollout.ts";
import { Workload } from "../../src/controller/workload.ts";
import { Conflict } from "../../src/controller/writes.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { type DeploymentView, deploymentView } from "../../src/kube/deployment.ts";
import { silentLogger } from "../../src/observability/logger.ts";
import { setCpu } from "../harness/metrics-api.ts";
import { eventually, ok, paths } from "./support/cluster.ts";
import { Problems } from "./support/problems.ts";
import { Podinfo, withController } from "./support/rollouts.ts";
import { watchObject } from "./support/watch.ts";

const world = withController();
const problems = new Problems(() => world.client);

const hpas = (ns: string) => `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`;

type Hpa = {
  metadata: {
    name: string;
    resourceVersion: string;
    labels?: Record<string, string>;
    ownerReferences?: { kind: string; name: string; controller?: boolean }[];
  };
  spec: {
    scaleTargetRef: { apiVersion?: string; kind: string; name: string };
    minReplicas?: number;
    maxReplicas: number;
    metrics?: unknown[];
    behavior?: unknown;
  };
  status?: { conditions?: { type: string; status: string; reason: string }[] };
};

type ManagedFields = {
  manager: string;
  operation: string;
  subresource?: string;
  fieldsV1?: { "f:spec"?: Record<string, unknown> };
}[];
type DeploymentJson = {
  metadata: { name: string; resourceVersion: string; managedFields?: ManagedFields };
  spec: { replicas: number };
};

/** Scales on each pod's CPU, 100m apiece; up at once, down never within a test's length. */
function hpaManifest(ns: string, target: string, min: number, max: number) {
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name: "podinfo", namespace: ns },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: target },
      minReplicas: min,
      maxReplicas: max,
      metrics: [
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "AverageValue", averageValue: "100m" } },
        },
      ],
      behavior: { scaleUp: { stabilizationWindowSeconds: 0 } },
    },
  };
}

const createHpa = async (client: KubeClient, ns: string, target = "podinfo", min = 2, max = 5) =>
  ok(await client.create(hpas(ns), hpaManifest(ns, target, min, max)), "hpa");

const getHpa = async (client: KubeClient, ns: string, name: string) => {
  const got = await client.get<Hpa>(`${hpas(ns)}/${name}`);
  return got.ok ? got.value : undefined;
};

/** The primary's autoscaler once it scales what the user's does, the same way. */
function primaryEqualsUsers(client: KubeClient, ns: string) {
  return eventually(`${ns}/podinfo-primary's autoscaler to equal the user's`, async () => {
    const [user, primary] = await Promise.all([
      getHpa(client, ns, "podinfo"),
      getHpa(client, ns, "podinfo-primary"),
    ]);
    if (!user || !primary) return undefined;
    const { scaleTargetRef, ...policy } = primary.spec;
    const { scaleTargetRef: _, ...wanted } = user.spec;
    return scaleTargetRef.name === "podinfo-primary" &&
      JSON.stringify(policy) === JSON.stringify(wanted)
      ? primary
      : undefined;
  });
}

/** Who owns spec.replicas in a Deployment's managedFields. */
const replicaOwners = (d: DeploymentJson) =>
  (d.metadata.managedFields ?? [])
    .filter((m) => m.fieldsV1?.["f:spec"]?.["f:replicas"] !== undefined)
    .map((m) => `${m.manager}${m.subresource ? `/${m.subresource}` : ""}`);

/**
 * Fledge's apply of the primary from a copy older than the HPA's write (here the canary's
 * revision, from the copy at 2 replicas) is refused by the apiserver as a Conflict, and the cache
 * is told the primary as it is: the race the controller's caches could lose, made certain.
 */
async function staleApplyIsRefused(
  client: KubeClient,
  ns: string,
  stale: DeploymentView | undefined,
) {
  const get = async (name: string) =>
    ok(await client.get<DeploymentJson>(`${paths.deployments(ns)}/${name}`), name);
  const target = deploymentView(await get("podinfo"), true);
  const rollout = ok(
    await client.get<{ metadata: { uid: string }; spec: RolloutSpec }>(
      `${paths.rollouts(ns)}/podinfo`,
    ),
    "rollout",
  );
  const remembered: unknown[] = [];
  const workload = new Workload(client, {
    get: () => undefined,
    remember: (raw) => remembered.push(raw),
  });
  expect(stale?.replicas).toBe(2);
  if (!stale || !target) throw new Error("no primary or target to apply from");
  const applied = workload.applyPrimary(
    rollout.spec,
    target.templateHash,
    stale,
    target,
    { name: "podinfo", namespace: ns, uid: rollout.metadata.uid },
    silentLogger,
  );
  await expect(applied).rejects.toBeInstanceOf(Conflict);
  expect(remembered.map((r) => (r as DeploymentJson).spec.replicas)).toEqual([5]);
  const primary = await get("podinfo-primary");
  expect(primary.spec.replicas).toBe(5);
  expect(deploymentView(primary)?.templateHash).toBe(stale.templateHash);
}

describe("an autoscaled app", () => {
  test("the primary gets an autoscaler equal to the user's, kept equal both ways, and goes with the Rollout", async () => {
    const started = performance.now();
    const { p } = await Podinfo.healthy(
      world.client,
      "hpa-copy",
      [{ setWeight: 50 }],
      {
        autoscalerRef: { name: "podinfo" },
      },
      (ns) => createHpa(world.client, ns).then(() => {}),
    );
    const primary = await primaryEqualsUsers(world.client, p.ns);
    expect(primary.metadata.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "fledge",
      "fledge.dev/rollout": "podinfo",
    });
    expect(primary.metadata.ownerReferences).toEqual([
      expect.objectContaining({ kind: "Rollout", name: "podinfo", controller: true }),
    ]);
    expect(primary.spec.scaleTargetRef).toEqual({
      apiVersion: "apps/v1",
      kind: "Deployment",
      name: "podinfo-primary",
    });

    // An edit of the user's reaches the primary's.
    ok(
      await world.client.patch(`${hpas(p.ns)}/podinfo`, { spec: { maxReplicas: 7 } }),
      "edit the user's",
    );
    const edited = await primaryEqualsUsers(world.client, p.ns);
    expect(edited.spec.maxReplicas).toBe(7);

    // A hand edit of the primary's is repaired, a field taken away included.
    ok(
      await world.client.patch(`${hpas(p.ns)}/podinfo-primary`, {
        spec: { minReplicas: 4, behavior: null },
      }),
      "edit the primary's",
    );
    const repaired = await primaryEqualsUsers(world.client, p.ns);
    expect(repaired.spec.minReplicas).toBe(2);
    expect(repaired.spec.behavior).toBeDefined();

    // The Rollout's deletion hands the app back: the target scaled up from 0 to the primary's
    // count, under the user's HPA alone. Both autoscalers may be moving their counts within the
    // user's bounds (2..7) just then, the primary's after the hand edit of its minimum: the
    // count taken is one of those, and only Fledge's write brings a Deployment up from 0.
    expect(await p.replicas("podinfo")).toBe(0);
    ok(await world.client.delete(`${paths.rollouts(p.ns)}/podinfo`), "delete the rollout");
    const scaledUp = await eventually("the target scaled back up", async () => {
      const replicas = (await p.replicas("podinfo")) ?? 0;
      return replicas > 0 ? replicas : undefined;
    });
    expect(scaledUp).toBeGreaterThanOrEqual(2);
    expect(scaledUp).toBeLessThanOrEqual(7);
    // The garbage collector learns a kind's REST mapping at its 30 s resync: on a control plane
    // just started, the Rollout kind may be that new.
    await eventually(
      "the primary's autoscaler collected",
      async () => ((await getHpa(world.client, p.ns, "podinfo-primary")) ? undefined : true),
      90_000,
    );
    expect((await getHpa(world.client, p.ns, "podinfo"))?.spec.maxReplicas).toBe(7);
    console.info(
      `primary autoscaler made, followed and repaired in ${Math.round(performance.now() - started)} ms`,
    );
  }, 150_000);

  test("the HPA scales the primary during a rollout; Fledge never sets its replicas back, through the promotion", async () => {
    const started = performance.now();
    const { p, initial } = await Podinfo.healthy(
      world.client,
      "hpa-scale",
      [{ setWeight: 50 }, { pause: {} }],
      { autoscalerRef: { name: "podinfo" } },
      (ns) => createHpa(world.client, ns).then(() => {}),
    );
    await primaryEqualsUsers(world.client, p.ns);
    const watch = watchObject<DeploymentJson>(paths.deployments(p.ns), "podinfo-primary");
    await watch.listed;

    await p.newRevision("2");
    await p.phase("Paused");
    const stale = deploymentView(
      ok(await world.client.get(`${paths.deployments(p.ns)}/podinfo-primary`), "primary"),
    );
    // 300m a pod against 100m: the HPA wants 6, bounded by maxReplicas 5.
    await setCpu(world.client, p.ns, "podinfo-primary", "300m");
    await eventually(
      "the HPA to scale the primary to 5",
      async () => ((await p.replicas("podinfo-primary")) === 5 ? true : undefined),
      60_000,
    );
    expect((await p.rollout()).status?.phase).toBe("Paused");
    await staleApplyIsRefused(world.client, p.ns, stale);

    await p.annotate({ "fledge.dev/resume": "1" });
    const done = await p.promoted(initial);
    await eventually("the canary scaled down", async () =>
      (await p.replicas("podinfo")) === 0 ? true : undefined,
    );
    // Long enough for a reconcile or two and several HPA syncs after the promotion.
    await sleep(3000);
    await watch.stop();

    const promoted = ok(
      await world.client.get<
        DeploymentJson & { metadata: { annotations: Record<string, string> } }
      >(`${paths.deployments(p.ns)}/podinfo-primary`),
      "primary",
    );
    expect(promoted.metadata.annotations["fledge.dev/revision"]).toBe(done.status?.stableRevision);
    expect(promoted.spec.replicas).toBe(5);

    const counts: number[] = [];
    for (const v of watch.versions) {
      const replicas = v.object.spec.replicas;
      if (counts.at(-1) !== replicas) {
        counts.push(replicas);
        // The write that changed the count is the one that owns the field now, alone.
        if (counts.length > 1)
          expect(replicaOwners(v.object)).toEqual(["kube-controller-manager/scale"]);
      }
    }
    // Up only, and only by the HPA: never back to the count Fledge created it with.
    expect(counts[0]).toBe(2);
    expect(counts.at(-1)).toBe(5);
    expect(counts).toEqual([...counts].sort((a, b) => a - b));
    console.info(
      `primary's replicas over the rollout: ${counts.join(" -> ")} in ${watch.versions.length} versions; ${Math.round(performance.now() - started)} ms`,
    );

    // The canary at 0 stays there: the user's HPA leaves a Deployment scaled to 0 alone.
    await setCpu(world.client, p.ns, "podinfo", "500m");
    await eventually("the user's HPA to say scaling is disabled", async () => {
      const hpa = await getHpa(world.client, p.ns, "podinfo");
      const active = hpa?.status?.conditions?.find((c) => c.type === "ScalingActive");
      return active?.status === "False" && active.reason === "ScalingDisabled" ? true : undefined;
    });
    const target = watchObject<DeploymentJson>(paths.deployments(p.ns), "podinfo");
    await target.listed;
    await sleep(5000);
    await target.stop();
    expect(target.versions.map((v) => v.object.spec.replicas)).toEqual(
      target.versions.map(() => 0),
    );
  });

  test("an autoscalerRef naming no HPA, or one of another workload, holds the rollout until fixed", async () => {
    const p = await Podinfo.create(world.client, "hpa-bad", [{ setWeight: 50 }], {
      autoscalerRef: { name: "podinfo" },
    });
    const missing = await problems.reported(p.ns, "podinfo", "AutoscalerNotFound");
    expect(missing.message).toContain(`HorizontalPodAutoscaler ${p.ns}/podinfo does not exist`);
    expect(missing.message).toContain("the namespace has none");
    expect(await p.replicas("podinfo-primary")).toBeUndefined();

    await problems.clears(
      p.ns,
      "podinfo",
      "AutoscalerNotFound",
      () => createHpa(world.client, p.ns, "storefront"),
      "AutoscalerMismatch",
    );
    const mismatch = await problems.reported(p.ns, "podinfo", "AutoscalerMismatch");
    expect(mismatch.message).toContain(
      "HorizontalPodAutoscaler podinfo scales Deployment storefront (apps/v1), not Deployment podinfo",
    );
    expect(await p.replicas("podinfo-primary")).toBeUndefined();
    expect(await p.replicas("podinfo")).toBe(2);

    await problems.clears(p.ns, "podinfo", "AutoscalerMismatch", () =>
      world.client.patch(`${hpas(p.ns)}/podinfo`, {
        spec: { scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" } },
      }),
    );
    await problems.serving(p.ns, "podinfo");
    await primaryEqualsUsers(world.client, p.ns);
  });
});
