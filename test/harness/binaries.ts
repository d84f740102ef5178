import { spawn } from "node:child_process";
import { access, constants } from "node:fs/promises";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const KUBERNETES_VERSION = "v1.37.2";
export const ETCD_VERSION = "v3.6.16";

export interface ControlPlaneBinaries {
  etcd: string;
  kubeApiserver: string;
  kubeControllerManager: string;
  /** The real kubectl of the same release, for tests of what a person sees (explain, get). */
  kubectl: string;
}

const buildScript = fileURLToPath(new URL("../../scripts/build-control-plane.sh", import.meta.url));

export function cacheDir(): string {
  return (
    process.env.FLEDGE_CACHE_DIR ??
    join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "fledge")
  );
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function runBuild(name: string, version: string, cache: string): Promise<void> {
  return new Promise((resolve, reject) => {
    // Progress goes to stderr: under Vitest and in `main.ts up`, stdout is for results.
    const child = spawn("bash", [buildScript, name, version], {
      env: { ...process.env, FLEDGE_CACHE_DIR: cache },
      stdio: ["ignore", process.stderr, process.stderr],
    });
    child.on("error", reject);
    child.on("exit", (code, signal) => {
      if (code === 0) resolve();
      else reject(new Error(`building ${name} ${version} failed (${signal ?? `exit ${code}`})`));
    });
  });
}

/**
 * Paths to etcd, kube-apiserver, kube-controller-manager and kubectl: from KUBEBUILDER_ASSETS when set
 * (the envtest convention), else from the cache, built from the Go modules when missing.
 */
export async function ensureBinaries(): Promise<ControlPlaneBinaries> {
  const assets = process.env.KUBEBUILDER_ASSETS;
  if (assets) {
    const found = {
      etcd: join(assets, "etcd"),
      kubeApiserver: join(assets, "kube-apiserver"),
      kubeControllerManager: join(assets, "kube-controller-manager"),
      kubectl: join(assets, "kubectl"),
    };
    for (const path of Object.values(found)) {
      if (!(await isExecutable(path))) {
        throw new Error(`KUBEBUILDER_ASSETS is set but ${path} is missing or not executable`);
      }
    }
    return found;
  }

  const cache = cacheDir();
  const kubernetesDir = join(cache, `kubernetes-${KUBERNETES_VERSION}`);
  const etcdDir = join(cache, `etcd-${ETCD_VERSION}`);
  const found = {
    etcd: join(etcdDir, "etcd"),
    kubeApiserver: join(kubernetesDir, "kube-apiserver"),
    kubeControllerManager: join(kubernetesDir, "kube-controller-manager"),
    kubectl: join(kubernetesDir, "kubectl"),
  };
  // The script checks again under its lock; checking here keeps the warm path free of a shell.
  if (!(await isExecutable(found.etcd))) await runBuild("etcd", ETCD_VERSION, cache);
  const kubernetes = [found.kubeApiserver, found.kubeControllerManager, found.kubectl];
  if (!(await Promise.all(kubernetes.map(isExecutable))).every(Boolean)) {
    process.stderr.write(
      `[fledge-harness] building Kubernetes ${KUBERNETES_VERSION} into ${kubernetesDir}; ` +
        "about 5 minutes on 2 cores the first time\n",
    );
    await runBuild("kubernetes", KUBERNETES_VERSION, cache);
  }
  return found;
}
