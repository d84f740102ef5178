import type { z } from "zod";
import { AnalysisTemplateSpec, TEMPLATE_PLURALS } from "../analysis-template.ts";
import {
  GROUP,
  KIND,
  PLURAL,
  RolloutSpec,
  RolloutStatus,
  type TemplateKind,
  VERSION,
} from "../rollout.ts";
import {
  HTTP_ROUTE_GROUP_VERSIONS,
  HTTPRouteGroupSpec,
  SPECS_GROUP,
  SPLIT_GROUP,
  SPLIT_VERSIONS,
  type SplitVersion,
  TRAFFIC_SPLIT_SPECS,
} from "../smi.ts";
import { openApiSchema } from "./openapi.ts";

type PrinterColumn = {
  name: string;
  type: string;
  jsonPath: string;
  priority?: number;
  description?: string;
};

type VersionSpec = {
  name: string;
  spec: z.ZodType;
  status?: z.ZodType;
  storage: boolean;
  printerColumns?: PrinterColumn[];
};

type CrdSpec = {
  group: string;
  scope?: "Namespaced" | "Cluster";
  kind: string;
  plural: string;
  shortNames?: string[];
  categories?: string[];
  versions: VersionSpec[];
};

function crd({
  group,
  scope = "Namespaced",
  kind,
  plural,
  shortNames,
  categories,
  versions,
}: CrdSpec) {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: `${plural}.${group}` },
    spec: {
      group,
      scope,
      names: {
        kind,
        listKind: `${kind}List`,
        plural,
        singular: kind.toLowerCase(),
        ...(shortNames ? { shortNames } : {}),
        ...(categories ? { categories } : {}),
      },
      versions: versions.map((v) => ({
        name: v.name,
        served: true,
        storage: v.storage,
        ...(v.status ? { subresources: { status: {} } } : {}),
        ...(v.printerColumns ? { additionalPrinterColumns: v.printerColumns } : {}),
        schema: {
          openAPIV3Schema: {
            type: "object",
            required: ["spec"],
            properties: {
              apiVersion: { type: "string" },
              kind: { type: "string" },
              metadata: { type: "object" },
              spec: openApiSchema(v.spec, "spec"),
              ...(v.status ? { status: openApiSchema(v.status, "status") } : {}),
            },
          },
        },
      })),
    },
  };
}

export function rolloutCrd() {
  return crd({
    group: GROUP,
    kind: KIND,
    plural: PLURAL,
    shortNames: ["fro"],
    categories: ["fledge"],
    versions: [
      {
        name: VERSION,
        spec: RolloutSpec,
        status: RolloutStatus,
        storage: true,
        printerColumns: [
          { name: "Phase", type: "string", jsonPath: ".status.phase" },
          {
            name: "Weight",
            type: "integer",
            jsonPath: ".status.canaryWeight",
            description: "Canary traffic %",
          },
          {
            name: "Step",
            type: "string",
            jsonPath: ".status.step",
            description: "Step in progress, 1-based",
          },
          {
            name: "Revision",
            type: "string",
            jsonPath: ".status.stableRevision",
            description: "Serving revision",
          },
          { name: "Canary", type: "string", jsonPath: ".status.canaryRevision", priority: 1 },
          { name: "Message", type: "string", jsonPath: ".status.message", priority: 1 },
          { name: "Age", type: "date", jsonPath: ".metadata.creationTimestamp" },
        ],
      },
    ],
  });
}

/** Shared analysis: the same spec, in a namespace for its Rollouts or cluster-wide for all. */
export function analysisTemplateCrd(kind: TemplateKind) {
  return crd({
    group: GROUP,
    scope: kind === "ClusterAnalysisTemplate" ? "Cluster" : "Namespaced",
    kind,
    plural: TEMPLATE_PLURALS[kind],
    shortNames: [kind === "ClusterAnalysisTemplate" ? "fcat" : "fat"],
    categories: ["fledge"],
    versions: [{ name: VERSION, spec: AnalysisTemplateSpec, storage: true }],
  });
}

/** Minimal SMI CRDs for clusters and tests without a mesh; `served` picks which split versions exist. */
export function trafficSplitCrd(served: readonly SplitVersion[] = SPLIT_VERSIONS) {
  const newest = served[served.length - 1];
  return crd({
    group: SPLIT_GROUP,
    kind: "TrafficSplit",
    plural: "trafficsplits",
    shortNames: ["ts"],
    versions: served.map((name) => ({
      name,
      spec: TRAFFIC_SPLIT_SPECS[name],
      storage: name === newest,
    })),
  });
}

export function httpRouteGroupCrd() {
  return crd({
    group: SPECS_GROUP,
    kind: "HTTPRouteGroup",
    plural: "httproutegroups",
    shortNames: ["htr"],
    versions: HTTP_ROUTE_GROUP_VERSIONS.map((name) => ({
      name,
      spec: HTTPRouteGroupSpec,
      storage: name === "v1alpha4",
    })),
  });
}
