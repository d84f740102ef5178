import type { TestProject } from "vitest/node";
import { KubeClient } from "../../src/kube/client.ts";
import { silentLogger } from "../../src/observability/logger.ts";
import { FLEDGE_CRD_DIR, startControlPlane } from "./control-plane.ts";
import { ensureGatewayApiCrds } from "./gateway-api.ts";
import { startResourceMetrics } from "./metrics-api.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of an admin (system:masters) kubeconfig for the tier's control plane. */
    kubeconfig: string;
    /** The kube-apiserver URL, https://127.0.0.1:PORT. */
    apiserverUrl: string;
  }
}

/**
 * One control plane for the whole integration tier; each test uses namespaces of its own. It
 * serves Fledge's CRDs and the Gateway API's standard channel (HTTPRoute and the rest), as a
 * GAMMA mesh's cluster does, and the resource metrics API its autoscalers read (a test sets its
 * pods' CPU with setCpu). A test that starts a control plane of its own chooses its CRDs.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const controlPlane = await startControlPlane({
    crdDirs: [FLEDGE_CRD_DIR, await ensureGatewayApiCrds()],
  });
  const metrics = await startResourceMetrics(
    new KubeClient(controlPlane.kubeConfig),
    controlPlane.servingCertificate,
    silentLogger,
  ).catch(async (e) => {
    await controlPlane.stop();
    throw e;
  });
  project.provide("kubeconfig", controlPlane.kubeconfigPath);
  project.provide("apiserverUrl", controlPlane.url);
  return async () => {
    await metrics.stop();
    await controlPlane.stop();
  };
}
