// The Gateway API's CRDs as the project publishes them (the standard channel), for tests against
// the shapes meshes and gateways ship: fetched as a Go module (go-module.ts). They are
// apiextensions v1 already. The channel's ValidatingAdmissionPolicy (safe upgrades) is left out:
// startControlPlane installs CustomResourceDefinitions only.

import { ensureModuleCrds } from "./go-module.ts";

export const GATEWAY_API_MODULE = "sigs.k8s.io/gateway-api";
export const GATEWAY_API_VERSION = "v1.6.3";

/**
 * A directory of the Gateway API's standard-channel CRDs (config/crd/standard/*.yaml: Gateway,
 * GatewayClass, HTTPRoute, GRPCRoute, ReferenceGrant ...), for startControlPlane's crdDirs.
 */
export function ensureGatewayApiCrds(version = GATEWAY_API_VERSION): Promise<string> {
  return ensureModuleCrds({
    module: GATEWAY_API_MODULE,
    version,
    folder: "config/crd/standard",
    cacheName: "gateway-api",
    convert: (document) => (document.kind === "CustomResourceDefinition" ? document : undefined),
    doing: "keeping its standard-channel CRDs",
  });
}
