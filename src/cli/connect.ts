import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { KubeClient, type KubeError } from "../kube/client.ts";

/** The flags every command shares, spelled the way kubectl spells them. */
export type ConnectFlags = { kubeconfig?: string; context?: string; namespace?: string };

export type Connection = {
  client: KubeClient;
  kubeConfig: KubeConfig;
  namespace: string;
  server: string;
};

export type Result<T> = { ok: true; value: T } | { ok: false; message: string };

/**
 * Loads the kubeconfig as kubectl does: --kubeconfig, else $KUBECONFIG, else ~/.kube/config,
 * else the in-cluster ServiceAccount. client-node would otherwise fall back to
 * http://localhost:8080 silently, which turns a missing kubeconfig into a puzzling network error.
 */
function loadKubeConfig(flags: ConnectFlags): Result<KubeConfig> {
  const kc = new KubeConfig();
  try {
    if (flags.kubeconfig) {
      if (!existsSync(flags.kubeconfig))
        return { ok: false, message: `kubeconfig ${flags.kubeconfig} does not exist` };
      kc.loadFromFile(flags.kubeconfig);
    } else if (process.env.KUBECONFIG || existsSync(join(homedir(), ".kube", "config"))) {
      kc.loadFromDefault();
    } else if (process.env.KUBERNETES_SERVICE_HOST) {
      kc.loadFromCluster();
    } else {
      return {
        ok: false,
        message: "no kubeconfig: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config",
      };
    }
  } catch (error) {
    return { ok: false, message: `cannot read the kubeconfig: ${(error as Error).message}` };
  }
  if (flags.context) {
    if (!kc.getContextObject(flags.context))
      return { ok: false, message: `context "${flags.context}" is not in the kubeconfig` };
    kc.setCurrentContext(flags.context);
  }
  if (!kc.getCurrentCluster())
    return { ok: false, message: "the kubeconfig's current context names no cluster" };
  return { ok: true, value: kc };
}

export function connect(flags: ConnectFlags): Result<Connection> {
  const loaded = loadKubeConfig(flags);
  if (!loaded.ok) return loaded;
  const kc = loaded.value;
  const namespace =
    flags.namespace ?? kc.getContextObject(kc.getCurrentContext())?.namespace ?? "default";
  return {
    ok: true,
    value: {
      client: new KubeClient(kc),
      kubeConfig: kc,
      namespace,
      server: kc.getCurrentCluster()?.server ?? "",
    },
  };
}

/** An apiserver failure as the one line a person reads: what was asked, and why it did not work. */
export function explain(error: KubeError, what: string, server: string): string {
  switch (error.reason) {
    case "NotFound":
      return `${what} not found`;
    case "Forbidden":
      return `forbidden: ${error.message}`;
    case "Unauthorized":
      return `unauthorized at ${server}: the kubeconfig's credentials were refused`;
    case "Unreachable":
      return `cannot reach the API server at ${server}: ${error.message}`;
    default:
      return `${what}: ${error.reason}: ${error.message}`;
  }
}
