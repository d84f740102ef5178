// The SMI CRDs as smi-sdk-go publishes them, for tests against the shapes meshes ship rather than
// our own copies: fetched as a Go module (go-module.ts) and converted to apiextensions v1
// (crd-v1.ts), which kube-apiserver requires.

import { crdToV1 } from "./crd-v1.ts";
import { ensureModuleCrds } from "./go-module.ts";

export const SMI_SDK_MODULE = "github.com/servicemeshinterface/smi-sdk-go";
export const SMI_SDK_VERSION = "v0.5.0";

/**
 * A directory of smi-sdk-go's CRDs (crds/*.yaml: TrafficSplit, HTTPRouteGroup and the other
 * SMI kinds) as apiextensions v1, for startControlPlane's crdDirs.
 */
export function ensureSmiSdkCrds(version = SMI_SDK_VERSION): Promise<string> {
  return ensureModuleCrds({
    module: SMI_SDK_MODULE,
    version,
    folder: "crds",
    cacheName: "smi-sdk-go",
    convert: crdToV1,
    doing: "converting its CRDs to apiextensions v1",
  });
}
