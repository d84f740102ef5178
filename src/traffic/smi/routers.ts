import type { SmiRouting } from "../../api/rollout.ts";
import type { SplitVersion } from "../../api/smi.ts";
import type { KubeClient } from "../../kube/client.ts";
import type { Routers } from "../router.ts";
import { SmiRouter, type SplitStore } from "./router.ts";
import { chooseSplitVersion } from "./versions.ts";

/**
 * SMI's routers: a TrafficSplit in the version the spec names (or the newest served), among
 * the versions `served` says the cluster serves now.
 */
export function smiRouters(
  client: KubeClient,
  splits: SplitStore,
  served: () => readonly SplitVersion[],
): Routers<SmiRouting> {
  return ({ apiVersion, matches }) => {
    const version = chooseSplitVersion(apiVersion, served(), matches !== undefined);
    return version.ok
      ? { ok: true, router: new SmiRouter(client, version.version, splits) }
      : version;
  };
}
