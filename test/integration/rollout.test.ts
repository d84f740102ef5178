import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { KubeClient } from "../../src/kube/client.ts";
import { canaryPercent, splitView } from "../../src/traffic/smi/router.ts";
import {
  adminClient,
  deploymentManifest,
  eventually,
  newNamespace,
  ok,
  paths,
  rolloutManifest,
} from "./support/cluster.ts";
import {
  controllerKubeconfig,
  type RunningController,
  startController,
  tempDir,
} from "./support/controller.ts";

type RolloutJson = {
  status?: {
    phase?: string;
    stableRevision?: string;
    canaryWeight?: number;
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
};

let client: KubeClient;
let controller: RunningController;
const tmp = tempDir();

beforeAll(async () => {
  client = await adminClient();
  controller = startController(await controllerKubeconfig(tmp.dir), tmp.dir);
});

afterAll(async () => {
  await controller?.kill();
  client?.close();
  if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
});

async function rollout(ns: string, name: string): Promise<RolloutJson> {
  return ok(await client.get<RolloutJson>(`${paths.rollouts(ns)}/${name}`), "get rollout");
}

async function phase(ns: string, name: string, wanted: string): Promise<RolloutJson> {
  return eventually(`${ns}/${name} to be ${wanted}`, async () => {
    const r = await rollout(ns, name);
    return r.status?.phase === wanted ? r : undefined;
  });
}

/** Samples the split's canary weight, keeping each change, until stopped. */
function recordWeights(ns: string, apex: string) {
  const seen: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const got = await client.get(`${paths.splits(ns)}/${apex}`);
      const split = got.ok ? splitView(got.value) : undefined;
      if (split) {
        const w = canaryPercent(split, `${apex}-canary`);
        if (seen[seen.length - 1] !== w) seen.push(w);
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

type Steps = Record<string, unknown>[];

/** A namespace with podinfo and its Rollout, initialised and Healthy. */
async function healthyRollout(prefix: string, steps: Steps, extra: Record<string, unknown> = {}) {
  const ns = await newNamespace(client, prefix);
  ok(
    await client.create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 2)),
    "deployment",
  );
  ok(
    await client.create(
      paths.rollouts(ns),
      rolloutManifest(ns, "podinfo", {
        targetRef: { name: "podinfo" },
        service: { port: 9898 },
        steps,
        ...extra,
      }),
    ),
    "rollout",
  );
  const initial = await phase(ns, "podinfo", "Healthy");
  return { ns, initial };
}

async function newRevision(ns: string, value: string) {
  ok(
    await client.patch(`${paths.deployments(ns)}/podinfo`, {
      spec: { template: { metadata: { annotations: { "example.com/revision": value } } } },
    }),
    "new revision",
  );
}

async function annotate(ns: string, annotations: Record<string, string | null>) {
  ok(
    await client.patch(`${paths.rollouts(ns)}/podinfo`, { metadata: { annotations } }),
    "annotate",
  );
}

async function replicas(ns: string, name: string): Promise<number> {
  return ok(
    await client.get<{ spec: { replicas: number } }>(`${paths.deployments(ns)}/${name}`),
    name,
  ).spec.replicas;
}

describe("a Rollout on the real control plane", () => {
  test("initialises, then promotes a new revision through its steps", async () => {
    const ns = await newNamespace(client, "promote");
    ok(
      await client.create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 2)),
      "deployment",
    );
    ok(
      await client.create(
        paths.rollouts(ns),
        rolloutManifest(ns, "podinfo", {
          targetRef: { name: "podinfo" },
          service: { port: 9898 },
          steps: [
            { setWeight: 20 },
            { pause: { duration: "2s" } },
            { setWeight: 60 },
            { pause: { duration: "2s" } },
          ],
        }),
      ),
      "rollout",
    );
    const initial = await phase(ns, "podinfo", "Healthy");
    const primary = ok(
      await client.get<{ spec: { replicas: number } }>(`${paths.deployments(ns)}/podinfo-primary`),
      "primary",
    );
    expect(primary.spec.replicas).toBe(2);
    await eventually("the target scaled to 0", async () => {
      const t = ok(
        await client.get<{ spec: { replicas: number } }>(`${paths.deployments(ns)}/podinfo`),
        "target",
      );
      return t.spec.replicas === 0 ? true : undefined;
    });

    const weights = recordWeights(ns, "podinfo");
    ok(
      await client.patch(`${paths.deployments(ns)}/podinfo`, {
        spec: { template: { metadata: { annotations: { "example.com/revision": "2" } } } },
      }),
      "new revision",
    );
    await eventually("the rollout to start", async () =>
      (await rollout(ns, "podinfo")).status?.phase !== "Healthy" ? true : undefined,
    );
    const done = await eventually(
      "promotion",
      async () => {
        const r = await rollout(ns, "podinfo");
        return r.status?.phase === "Healthy" &&
          r.status.stableRevision !== initial.status?.stableRevision
          ? r
          : undefined;
      },
      60_000,
    );
    await eventually("the canary scaled down", async () => {
      const t = ok(
        await client.get<{ spec: { replicas: number } }>(`${paths.deployments(ns)}/podinfo`),
        "target",
      );
      return t.spec.replicas === 0 ? true : undefined;
    });
    await weights.stop();
    expect(weights.seen).toEqual([0, 20, 60, 0]);
    const promoted = ok(
      await client.get<{ metadata: { annotations: Record<string, string> } }>(
        `${paths.deployments(ns)}/podinfo-primary`,
      ),
      "primary",
    );
    expect(promoted.metadata.annotations["fledge.dev/revision"]).toBe(done.status?.stableRevision);
  });
});

describe("a person steering", () => {
  test("a pause step without duration waits until resumed; the pause annotation holds any step", async () => {
    const { ns } = await healthyRollout("pause", [
      { setWeight: 20 },
      { pause: {} },
      { setWeight: 50 },
      { pause: { duration: "1s" } },
    ]);
    await newRevision(ns, "2");
    const paused = await phase(ns, "podinfo", "Paused");
    expect(paused.status?.canaryWeight).toBe(20);
    expect(paused.status?.conditions?.find((c) => c.type === "Paused")).toMatchObject({
      status: "True",
      reason: "StepPause",
    });
    await new Promise((r) => setTimeout(r, 3000));
    expect((await rollout(ns, "podinfo")).status?.canaryWeight).toBe(20);

    await annotate(ns, { "fledge.dev/pause": "true", "fledge.dev/resume": "1" });
    await eventually("weight 50 reached under a person's pause? it must not be", async () => {
      const r = await rollout(ns, "podinfo");
      const reasons = (
        r.status as { pauseReasons?: { reason: string }[] } | undefined
      )?.pauseReasons?.map((p) => p.reason);
      return reasons?.includes("Person") && !reasons.includes("Step") ? r : undefined;
    });
    await new Promise((r) => setTimeout(r, 2000));
    expect((await rollout(ns, "podinfo")).status?.canaryWeight).toBe(20);

    await annotate(ns, { "fledge.dev/pause": null });
    await eventually(
      "promotion",
      async () => {
        const r = await rollout(ns, "podinfo");
        return r.status?.phase === "Healthy" ? r : undefined;
      },
      30_000,
    );
  });

  test("abort rolls back: weight 0, canary scaled down, phase and condition say why", async () => {
    const { ns } = await healthyRollout("abort", [{ setWeight: 30 }, { pause: {} }]);
    await newRevision(ns, "2");
    await phase(ns, "podinfo", "Paused");
    await annotate(ns, { "fledge.dev/abort": "now" });
    const aborted = await phase(ns, "podinfo", "Aborted");
    expect(aborted.status?.canaryWeight).toBe(0);
    expect(aborted.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({
      status: "False",
      reason: "Aborted",
    });
    await eventually("the canary scaled down", async () =>
      (await replicas(ns, "podinfo")) === 0 ? true : undefined,
    );
    const split = splitView(ok(await client.get(`${paths.splits(ns)}/podinfo`), "split"));
    expect(split && canaryPercent(split, "podinfo-canary")).toBe(0);
  });
});
