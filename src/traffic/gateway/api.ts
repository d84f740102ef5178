import { LABELS } from "../../api/names.ts";
import { GATEWAY_GROUP, type GatewayRouting } from "../../api/rollout.ts";

import { scoped } from "../../kube/informer.ts";
import { crdWatched } from "../crd-watched.ts";
import type { TrafficApi, TrafficHooks, TrafficOptions } from "../router.ts";
import { routeView } from "./http-route.ts";
import { ROUTE_CRD, routeApi } from "./route-api.ts";
import { gatewayRouters } from "./routers.ts";

/**
 * The Gateway API as the controller runs it: the HTTPRoute CRD for the versions served and
 * their fields, and the routes that are Fledge's, made by it or the user's it steers, both
 * labelled with their Rollout.
 */
export function gatewayTraffic(
  options: TrafficOptions,
  hooks: TrafficHooks,
): TrafficApi<GatewayRouting> {
  const api = crdWatched(options, hooks, {
    crd: ROUTE_CRD,
    kind: "httproutes",
    served: routeApi,
    objects: (newest) => ({
      path: scoped(options.namespace, `/apis/${GATEWAY_GROUP}/${newest.version}`, "httproutes"),
      labelSelector: LABELS.rollout,
      transform: routeView,
    }),
  });
  return {
    routers: gatewayRouters(options.client, api.store, api.served),
    informers: api.informers,
    async start() {
      await api.start();
    },
  };
}
