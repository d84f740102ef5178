import { managedLabels, ownerReference } from "../../api/names.ts";
import type { HeaderMatch } from "../../api/rollout.ts";
import { type HttpMatch, SPECS_GROUP, type SplitVersion } from "../../api/smi.ts";
import type { KubeClient, KubeResult } from "../../kube/client.ts";

import type { Route } from "../router.ts";

/**
 * A Rollout's match in the HTTPRouteGroup's shape: its one map of headers becomes one filter per
 * header, sorted by name so that the same spec always writes the same list.
 */
export function wireMatch(match: HeaderMatch): HttpMatch {
  const { headers, ...rest } = match;
  if (headers === undefined) return rest;
  const names = Object.keys(headers).sort();
  return { ...rest, headers: names.map((name) => ({ [name]: headers[name] as string })) };
}

/** The HTTPRouteGroup a split's matches refer to, in the specs version paired with the split's. */
export function routeGroupManifest(version: SplitVersion, route: Route) {
  return {
    apiVersion: `${SPECS_GROUP}/${version}`,
    kind: "HTTPRouteGroup",
    metadata: {
      name: route.apex,
      namespace: route.owner.namespace,
      labels: managedLabels(route.owner),
      ownerReferences: [ownerReference(route.owner)],
    },
    spec: { matches: (route.matches ?? []).map(wireMatch) },
  };
}

/**
 * Writes the route group whole: a merge patch, or a create where there is none. Not a server-side
 * apply, which refuses to touch a live object that does not fit the CRD's schema ("failed to
 * create typed live object"), as one Fledge wrote in the one-map shape does once its CRD takes
 * smi-sdk-go's list; a merge patch replaces it.
 */
export async function writeRouteGroup(
  client: KubeClient,
  version: SplitVersion,
  route: Route,
): Promise<KubeResult<unknown>> {
  const collection = `/apis/${SPECS_GROUP}/${version}/namespaces/${route.owner.namespace}/httproutegroups`;
  const manifest = routeGroupManifest(version, route);
  const patched = await client.patch(`${collection}/${route.apex}`, manifest, "merge");
  if (patched.ok || patched.error.reason !== "NotFound") return patched;
  return client.create(collection, manifest);
}
