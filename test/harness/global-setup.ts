import type { TestProject } from "vitest/node";
import { startControlPlane } from "./control-plane.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** Path of an admin (system:masters) kubeconfig for the tier's control plane. */
    kubeconfig: string;
    /** The kube-apiserver URL, https://127.0.0.1:PORT. */
    apiserverUrl: string;
  }
}

/** One control plane for the whole integration tier; each test uses namespaces of its own. */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const controlPlane = await startControlPlane();
  project.provide("kubeconfig", controlPlane.kubeconfigPath);
  project.provide("apiserverUrl", controlPlane.url);
  return () => controlPlane.stop();
}
