import { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll } from "vitest";
import { KubeClient } from "../../../src/kube/client.ts";
import {
  type ControlPlane,
  type ControlPlaneOptions,
  startControlPlane,
} from "../../harness/control-plane.ts";
import {
  controllerKubeconfig,
  type RunningController,
  startController,
  tempDir,
} from "./controller.ts";

/**
 * One test file's control plane of its own, for what would disturb the tier's shared one, and a
 * controller on it under deploy/'s ServiceAccount. `options` may write files into the temp dir.
 */
export function withOwnControlPlane(options: (dir: string) => ControlPlaneOptions = () => ({})) {
  const world = {} as { plane: ControlPlane; client: KubeClient; controller: RunningController };
  const tmp = tempDir();
  beforeAll(async () => {
    world.plane = await startControlPlane(options(tmp.dir));
    const admin = new KubeConfig();
    admin.loadFromFile(world.plane.kubeconfigPath);
    world.client = await KubeClient.fromKubeConfig(admin);
    world.controller = startController(await controllerKubeconfig(tmp.dir, admin), tmp.dir);
  }, 120_000);
  afterAll(async () => {
    await world.controller?.kill();
    await world.plane?.stop();
    if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
  });
  return world;
}
