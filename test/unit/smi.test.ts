// SMI wire shapes: what Fledge writes for A/B routing, and what it reads back of a split, in the
// shapes of smi-sdk-go's CRDs (the ones meshes ship) as well as ours.

import { describe, expect, it } from "vitest";
import { HTTPRouteGroupSpec } from "../../src/api/smi.ts";
import { routeGroupManifest, wireMatch } from "../../src/traffic/smi/route-group.ts";
import { canaryPercent, splitView } from "../../src/traffic/smi/router.ts";

const owner = { name: "search", namespace: "shop", uid: "u-1" };
const route = {
  owner,
  apex: "search",
  primaryService: "search-primary",
  canaryService: "search-canary",
  port: 80,
};

describe("the HTTPRouteGroup Fledge writes", () => {
  it("lists each header of a match as a filter of its own, by name, in the order a spec gives none", () => {
    expect(
      wireMatch({
        name: "insiders",
        headers: { "x-canary": "true", cookie: "^(.*?;)?(beta=1)(;.*)?$" },
        methods: ["GET"],
      }),
    ).toEqual({
      name: "insiders",
      headers: [{ cookie: "^(.*?;)?(beta=1)(;.*)?$" }, { "x-canary": "true" }],
      methods: ["GET"],
    });
    expect(wireMatch({ name: "api", pathRegex: "/api/.*" })).toEqual({
      name: "api",
      pathRegex: "/api/.*",
    });
  });

  it("is an HTTPRouteGroup of the split's version, owned by the Rollout, valid by its schema", () => {
    for (const version of ["v1alpha3", "v1alpha4"] as const) {
      const manifest = routeGroupManifest(version, {
        ...route,
        matches: [{ name: "beta-cohort", headers: { "x-canary": "true" } }],
      });
      expect(manifest.apiVersion).toBe(`specs.smi-spec.io/${version}`);
      expect(manifest.metadata.ownerReferences[0]).toMatchObject({ name: "search", uid: "u-1" });
      expect(manifest.spec).toEqual({
        matches: [{ name: "beta-cohort", headers: [{ "x-canary": "true" }] }],
      });
      expect(HTTPRouteGroupSpec.safeParse(manifest.spec).success).toBe(true);
    }
  });

  it("the wire schema refuses the one-map shape smi-sdk-go's CRD answers `expected list` to", () => {
    const oneMap = { matches: [{ name: "beta", headers: { "x-canary": "true" } }] };
    expect(HTTPRouteGroupSpec.safeParse(oneMap).success).toBe(false);
  });
});

describe("a split read back", () => {
  it("as smi-sdk-go's CRD keeps it: weights as numbers, matches of kind and name only", () => {
    const split = splitView({
      metadata: { name: "search", namespace: "shop", resourceVersion: "7" },
      spec: {
        service: "search",
        backends: [
          { service: "search-primary", weight: 62.5 },
          { service: "search-canary", weight: 37.5 },
        ],
        matches: [{ kind: "HTTPRouteGroup", name: "search" }],
      },
    });
    expect(split?.routeGroups).toEqual(["search"]);
    if (split) expect(canaryPercent(split, "search-canary")).toBe(38);
  });

  it("as a split written with apiGroup, which Fledge once wrote on v1alpha4, reads the same", () => {
    const split = splitView({
      metadata: { name: "search", namespace: "shop" },
      spec: {
        service: "search",
        backends: [{ service: "search-canary", weight: 100 }],
        matches: [{ kind: "HTTPRouteGroup", name: "search", apiGroup: "specs.smi-spec.io" }],
      },
    });
    expect(split?.routeGroups).toEqual(["search"]);
  });
});
