import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import { KubeClient } from "../../src/kube/client.ts";
import { type ControlPlane, startControlPlane } from "../harness/control-plane.ts";
import { eventually } from "./support/cluster.ts";
import {
  controllerKubeconfig,
  type RunningController,
  startController,
  tempDir,
} from "./support/controller.ts";
import { Podinfo, type RolloutJson } from "./support/rollouts.ts";

// A control plane of this file's own: stopping the tier's shared apiserver would disturb the others.
let plane: ControlPlane;
let client: KubeClient;
let kubeconfig: string;
let controller: RunningController | undefined;
const tmp = tempDir();

beforeAll(async () => {
  plane = await startControlPlane();
  const admin = new KubeConfig();
  admin.loadFromFile(plane.kubeconfigPath);
  client = await KubeClient.fromKubeConfig(admin);
  kubeconfig = await controllerKubeconfig(tmp.dir, admin);
}, 120_000);

afterEach(async () => {
  await controller?.kill();
  controller = undefined;
});

afterAll(async () => {
  await plane?.stop();
  if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
});

/** Waits for the new revision to be promoted: Healthy at a stable revision other than the first. */
function promoted(p: Podinfo, initial: RolloutJson) {
  return eventually(
    "promotion after the restart",
    async () => {
      const r = await p.rollout().catch(() => undefined);
      return r?.status?.phase === "Healthy" &&
        r.status.stableRevision !== initial.status?.stableRevision
        ? r
        : undefined;
    },
    // Generous: the promotion also waits on kube-controller-manager and the fake kubelet, whose
    // watches resume after the restart in their own time.
    90_000,
  );
}

test("the apiserver restarted mid-rollout: watches resume and the rollout finishes", async () => {
  controller = startController(kubeconfig, tmp.dir);
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
  const done = await promoted(p, initial);
  await weights.stop();
  expect(done.status?.phase).toBe("Healthy");
  expect(weights.seen).toEqual([0, 20, 60, 0]);
  expect(controller.process.exitCode).toBe(null);
}, 120_000);

/** The workqueue's retry delays for one key so far, from the controller's log. */
function retryDelays(logs: string, key: string): number[] {
  return logs
    .split("\n")
    .filter((line) => line.includes('"reconcile failed; retrying"'))
    .map((line) => JSON.parse(line) as { key?: string; delayMs?: number })
    .filter((entry) => entry.key === key && entry.delayMs !== undefined)
    .map((entry) => entry.delayMs as number);
}

// The bound is on the mechanism: once the outage is over, nothing but the first watch to open
// again stands between the apiserver and the step. A retry delay this long makes a controller
// that waits it out miss the bound by seconds, however fast the machine.
const GROWN_RETRY_MS = 10_000;
const STEP_AFTER_READY_MS = 2_000;

test("a step that fell due while kube-apiserver was down comes within 2 s of its /readyz, whatever the backoff grew to", async () => {
  // One replica without a Lease, as deploy/ ships it: with a Lease, an outage longer than the
  // renew deadline ends the process, by design.
  controller = startController(kubeconfig, tmp.dir, ["--lease-namespace", "none"]);
  const { p, initial } = await Podinfo.healthy(client, "outage", [
    { setWeight: 20 },
    { pause: { duration: "10s" } },
    { setWeight: 60 },
    { pause: { duration: "1s" } },
  ]);
  const weights = p.recordWeights();
  await p.newRevision("2");
  const paused = await eventually("the pause after weight 20", async () => {
    const s = (await p.rollout()).status;
    const until = s?.pauseReasons?.find((r) => r.reason === "Step")?.until;
    return s?.canaryWeight === 20 && until ? Date.parse(until) : undefined;
  });
  await plane.stopApiserver();
  const down = Date.now();
  expect(down, "the apiserver was down before the pause ended").toBeLessThan(paused);

  const key = `${p.ns}/podinfo`;
  const running = controller;
  const grown = await eventually(
    `a retry delay of ${GROWN_RETRY_MS} ms or more for ${key}`,
    () => retryDelays(running.logs(), key).find((ms) => ms >= GROWN_RETRY_MS),
    60_000,
  );
  const ready = await plane.startApiserver();
  const done = await promoted(p, initial);
  await weights.stop();
  const step = weights.at[weights.seen.indexOf(60)] ?? Number.NaN;
  console.info(
    `apiserver-restart: down ${((ready - down) / 1000).toFixed(1)} s, the step fell due ` +
      `${((paused - down) / 1000).toFixed(1)} s into it, the retry delay had grown to ` +
      `${grown} ms; weight 60 seen ${step - ready} ms after /readyz`,
  );
  expect(weights.seen).toEqual([0, 20, 60, 0]);
  expect(step - ready).toBeLessThan(STEP_AFTER_READY_MS);
  expect(done.status?.phase).toBe("Healthy");
  expect(running.process.exitCode).toBe(null);
}, 180_000);
