// The controller a file's tests share, on the tier's Prometheus.

import { afterAll, beforeAll, inject } from "vitest";
import {
  controllerKubeconfig,
  type RunningController,
  startController,
  tempDir,
} from "../../integration/support/controller.ts";

/**
 * Starts the controller under deploy/'s ServiceAccount, with the tier's Prometheus as its
 * default, before a file's tests, and stops it after them (its files kept with FLEDGE_KEEP_LOGS).
 * The controller, once started.
 */
export function controllerOnPrometheus(logLevel = "info"): () => RunningController {
  const tmp = tempDir();
  let controller: RunningController | undefined;
  beforeAll(async () => {
    const kubeconfig = await controllerKubeconfig(tmp.dir);
    controller = startController(
      kubeconfig,
      tmp.dir,
      ["--prometheus-address", inject("prometheusUrl")],
      logLevel,
    );
  });
  afterAll(async () => {
    await controller?.kill();
    if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
  });
  return () => {
    if (!controller) throw new Error("the controller is started before the tests");
    return controller;
  };
}
