import type { GatewayRouting, SmiRouting, TrafficRouting } from "../api/rollout.ts";
import { gatewayTraffic } from "./gateway/api.ts";
import type { Routers, TrafficApi, TrafficHooks, TrafficOptions } from "./router.ts";
import { smiTraffic } from "./smi/api.ts";

/** The router a Rollout's spec.trafficRouting names: its schema admits exactly one. */
export const routersFor =
  (smi: Routers<SmiRouting>, gateway: Routers<GatewayRouting>): Routers<TrafficRouting> =>
  (routing) =>
    routing.gatewayAPI ? gateway(routing.gatewayAPI) : smi(routing.smi ?? { apiVersion: "auto" });

/**
 * The factory: every router API the controller runs, and the router each Rollout names. A new
 * router adds its folder and its line here.
 */
export function trafficApis(
  options: TrafficOptions,
  hooks: TrafficHooks,
): TrafficApi<TrafficRouting> {
  const smi = smiTraffic(options, hooks);
  const gateway = gatewayTraffic(options, hooks);
  const apis = [smi, gateway];
  return {
    routers: routersFor(smi.routers, gateway.routers),
    informers: () => apis.flatMap((api) => api.informers()),
    start: async () => {
      await Promise.all(apis.map((api) => api.start()));
    },
  };
}
