import { describe, expect, it } from "vitest";
import { crdToV1 } from "../harness/crd-v1.ts";

// The shape of smi-sdk-go v0.5.0's crds/specs.yaml and split.yaml: one v1beta1 schema for all
// versions under spec.validation, neither the root nor (in specs.yaml) spec typed, printer
// columns with JSONPath, only the newest version served.
const routeGroups = {
  apiVersion: "apiextensions.k8s.io/v1beta1",
  kind: "CustomResourceDefinition",
  metadata: { name: "httproutegroups.specs.smi-spec.io" },
  spec: {
    group: "specs.smi-spec.io",
    scope: "Namespaced",
    names: { kind: "HTTPRouteGroup", plural: "httproutegroups", singular: "httproutegroup" },
    version: "v1alpha4",
    versions: [
      { name: "v1alpha4", served: true, storage: true },
      { name: "v1alpha3", served: false, storage: false },
    ],
    additionalPrinterColumns: [
      { name: "Age", type: "date", JSONPath: ".metadata.creationTimestamp" },
    ],
    validation: {
      openAPIV3Schema: {
        properties: {
          spec: {
            required: ["matches"],
            properties: {
              matches: {
                type: "array",
                items: {
                  type: "object",
                  required: ["name"],
                  properties: {
                    name: { type: "string" },
                    headers: {
                      type: "array",
                      items: { type: "object", additionalProperties: { type: "string" } },
                    },
                  },
                },
              },
            },
          },
        },
      },
    },
  },
};

type Converted = {
  apiVersion: string;
  spec: Record<string, unknown> & {
    versions: {
      name: string;
      served: boolean;
      storage: boolean;
      schema: { openAPIV3Schema: Record<string, unknown> };
      additionalPrinterColumns?: unknown[];
    }[];
  };
};

describe("a v1beta1 CRD made v1", () => {
  const converted = crdToV1(routeGroups) as Converted;

  it("moves schema and printer columns into every version and keeps what each serves", () => {
    expect(converted.apiVersion).toBe("apiextensions.k8s.io/v1");
    expect(Object.keys(converted.spec).sort()).toEqual(["group", "names", "scope", "versions"]);
    expect(converted.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([
      ["v1alpha4", true, true],
      ["v1alpha3", false, false],
    ]);
    for (const v of converted.spec.versions) {
      expect(v.additionalPrinterColumns).toEqual([
        { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
      ]);
    }
  });

  it("types only the nodes v1 needs typed, from their keywords, and changes nothing else", () => {
    const schema = converted.spec.versions[0]?.schema.openAPIV3Schema;
    const given = routeGroups.spec.validation.openAPIV3Schema;
    expect(schema).toEqual({
      type: "object",
      properties: { spec: { type: "object", ...given.properties.spec } },
    });
  });

  it("takes spec.version alone as the one version, served and stored", () => {
    const { versions: _, ...single } = routeGroups.spec;
    const one = crdToV1({ ...routeGroups, spec: single }) as Converted;
    expect(one.spec.versions.map((v) => [v.name, v.served, v.storage])).toEqual([
      ["v1alpha4", true, true],
    ]);
  });

  it("lets an object that names no fields keep them, as v1beta1 did", () => {
    const freeForm = {
      ...routeGroups,
      spec: {
        ...routeGroups.spec,
        validation: {
          openAPIV3Schema: {
            properties: { spec: { type: "object" }, metadata: { type: "object" } },
          },
        },
      },
    };
    const schema = (crdToV1(freeForm) as Converted).spec.versions[0]?.schema.openAPIV3Schema;
    expect(schema?.properties).toEqual({
      spec: { type: "object", "x-kubernetes-preserve-unknown-fields": true },
      // The apiserver's own: v1 allows nothing there but restrictions of name and generateName.
      metadata: { type: "object" },
    });
  });

  it("refuses what has no mechanical v1 form, naming where", () => {
    const untyped = {
      ...routeGroups,
      spec: {
        ...routeGroups.spec,
        validation: { openAPIV3Schema: { properties: { spec: { description: "anything" } } } },
      },
    };
    expect(() => crdToV1(untyped)).toThrow(
      "httproutegroups.specs.smi-spec.io v1alpha4.spec: no type, and nothing in the schema implies one",
    );
    const webhook = {
      ...routeGroups,
      spec: { ...routeGroups.spec, conversion: { strategy: "Webhook" } },
    };
    expect(() => crdToV1(webhook)).toThrow("conversion strategy Webhook has no mechanical v1 form");
  });
});
