import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, expect, test } from "vitest";
import { KubeClient } from "../../src/kube/client.ts";
import { type ControlPlane, startControlPlane } from "../harness/control-plane.ts";
import { eventually } from "./support/cluster.ts";
import {
  controllerKubeconfig,
  type RunningController,
  startController,
  tempDir,
} from "./support/controller.ts";
import { Podinfo } from "./support/rollouts.ts";

// A control plane of this file's own: restarting the tier's shared apiserver would disturb the others.
let plane: ControlPlane;
let client: KubeClient;
let controller: RunningController;
const tmp = tempDir();

beforeAll(async () => {
  plane = await startControlPlane();
  const admin = new KubeConfig();
  admin.loadFromFile(plane.kubeconfigPath);
  client = await KubeClient.fromKubeConfig(admin);
  controller = startController(await controllerKubeconfig(tmp.dir, admin), tmp.dir);
}, 120_000);

afterAll(async () => {
  await controller?.kill();
  await plane?.stop();
  if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
});

test("the apiserver restarted mid-rollout: watches resume and the rollout finishes", async () => {
  const { p, initial } = await Podinfo.healthy(client, "restart", [
    { setWeight: 20 },
    { pause: { duration: "4s" } },
    { setWeight: 60 },
    { pause: { duration: "1s" } },
  ]);
  const weights = p.recordWeights();
  await p.newRevision("2");
  await eventually("weight 20", () => (weights.seen.includes(20) ? true : undefined));
  await plane.restartApiserver();
  const done = await eventually(
    "promotion after the restart",
    async () => {
      const r = await p.rollout().catch(() => undefined);
      return r?.status?.phase === "Healthy" &&
        r.status.stableRevision !== initial.status?.stableRevision
        ? r
        : undefined;
    },
    60_000,
  );
  await weights.stop();
  expect(done.status?.phase).toBe("Healthy");
  expect(weights.seen).toEqual([0, 20, 60, 0]);
  expect(controller.process.exitCode).toBe(null);
}, 120_000);
