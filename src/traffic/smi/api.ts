import { MANAGED_SELECTOR } from "../../api/names.ts";
import type { SmiRouting } from "../../api/rollout.ts";
import { SPLIT_GROUP } from "../../api/smi.ts";

import { scoped } from "../../kube/informer.ts";
import { crdWatched } from "../crd-watched.ts";
import type { TrafficApi, TrafficHooks, TrafficOptions } from "../router.ts";
import { splitView } from "./router.ts";
import { smiRouters } from "./routers.ts";
import { SPLIT_CRD, splitApi } from "./split-api.ts";

/** SMI as the controller runs it: the split CRD for the versions served, and Fledge's splits. */
export function smiTraffic(options: TrafficOptions, hooks: TrafficHooks): TrafficApi<SmiRouting> {
  const api = crdWatched(options, hooks, {
    crd: SPLIT_CRD,
    kind: "trafficsplits",
    served: splitApi,
    objects: (newest) => ({
      path: scoped(options.namespace, `/apis/${SPLIT_GROUP}/${newest}`, "trafficsplits"),
      labelSelector: MANAGED_SELECTOR,
      transform: splitView,
    }),
  });
  return {
    routers: smiRouters(options.client, api.store, api.served),
    informers: api.informers,
    async start() {
      if (!(await api.start()))
        options.logger.warn(
          "the cluster serves no SMI TrafficSplit API; rollouts using it will report RoutingUnavailable",
        );
    },
  };
}
