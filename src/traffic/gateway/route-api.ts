import { GATEWAY_GROUP } from "../../api/rollout.ts";
import { crdVersions, type Schema, type ServedVersions } from "../crd-watched.ts";

/** The CustomResourceDefinition that makes the cluster serve HTTPRoutes. */
export const ROUTE_CRD = `httproutes.${GATEWAY_GROUP}`;

/** The HTTPRoute versions Fledge can write, oldest first. */
export const ROUTE_VERSIONS = ["v1beta1", "v1"] as const;
export type RouteVersion = (typeof ROUTE_VERSIONS)[number];

/** One served version and what its schema holds of the fields Fledge writes beyond weights. */
export type ServedRoute = {
  version: RouteVersion;
  /** rules[].name: how Fledge finds the A/B rule it added to a route. */
  ruleNames: boolean;
  /** The RequestMirror filter's percent: mirroring a share of requests, not all of them. */
  mirrorPercent: boolean;
};

/** Whether a schema has a field at a path; "[]" steps into an array's items. */
function hasField(schema: Schema | undefined, path: string[]): boolean {
  let at = schema;
  for (const step of path) at = step === "[]" ? at?.items : at?.properties?.[step];
  return at !== undefined;
}

const RULE = ["spec", "rules", "[]"];

/** What the HTTPRoute CRD says: the versions served, newest last; none until Established. */
export function routeApi(raw: unknown): ServedVersions<ServedRoute> | undefined {
  const crd = crdVersions(raw);
  if (!crd) return undefined;
  const served = ROUTE_VERSIONS.flatMap((version): ServedRoute[] => {
    if (!crd.versions.has(version)) return [];
    const schema = crd.versions.get(version);
    return [
      {
        version,
        ruleNames: hasField(schema, [...RULE, "name"]),
        mirrorPercent: hasField(schema, [...RULE, "filters", "[]", "requestMirror", "percent"]),
      },
    ];
  });
  return { metadata: { name: crd.name }, served };
}
