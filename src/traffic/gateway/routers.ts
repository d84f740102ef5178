import { GATEWAY_GROUP, type GatewayRouting } from "../../api/rollout.ts";
import type { KubeClient } from "../../kube/client.ts";
import type { Routers } from "../router.ts";
import type { ServedRoute } from "./route-api.ts";
import { GatewayRouter, type RouteStore } from "./router.ts";

/**
 * The Gateway API's routers: an HTTPRoute in the version the spec names, or v1, or v1beta1 on
 * a cluster that serves only that; what the version's schema lacks, the router says it cannot do.
 */
export function gatewayRouters(
  client: KubeClient,
  routes: RouteStore,
  served: () => readonly ServedRoute[],
): Routers<GatewayRouting> {
  return (routing) => {
    const now = served();
    const chosen =
      routing.apiVersion === "auto"
        ? now[now.length - 1]
        : now.find((s) => `${GATEWAY_GROUP}/${s.version}` === routing.apiVersion);
    if (!chosen)
      return {
        ok: false,
        reason:
          now.length === 0
            ? `the cluster serves no ${GATEWAY_GROUP} HTTPRoute version`
            : `${routing.apiVersion} is not served (served: ${now.map((s) => s.version).join(", ")})`,
      };
    return { ok: true, router: new GatewayRouter(client, chosen, routing, routes) };
  };
}
