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
  /** What the kind is, for `kubectl explain KIND`. */
  description?: string;
  versions: VersionSpec[];
};

const CONVENTIONS =
  "https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md";

/**
 * The fields every object has, in the words of the Kubernetes API conventions (and of the CRDs
 * controller-gen writes), so that kubectl explain reads here as it does for any other kind. A
 * spec or status schema with a description of its own keeps it.
 */
const TOP_LEVEL = {
  apiVersion: `APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values. More info: ${CONVENTIONS}#resources`,
  kind: `Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. Cannot be updated. In CamelCase. More info: ${CONVENTIONS}#types-kinds`,
  spec: (kind: string) =>
    `Spec defines the desired state of the ${kind}. More info: ${CONVENTIONS}#spec-and-status`,
  status: (kind: string) =>
    `Status is the most recently observed state of the ${kind}, written by the controller. Read-only. More info: ${CONVENTIONS}#spec-and-status`,
};

const described = (
  description: string,
  schema: Record<string, unknown>,
): Record<string, unknown> => ({ description, ...schema });

function crd({
  group,
  scope = "Namespaced",
  kind,
  plural,
  shortNames,
  categories,
  description,
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
            ...(description ? { description } : {}),
            type: "object",
            required: ["spec"],
            properties: {
              apiVersion: { type: "string", description: TOP_LEVEL.apiVersion },
              kind: { type: "string", description: TOP_LEVEL.kind },
              // The apiserver refuses anything but the type here; explain describes it as ObjectMeta.
              metadata: { type: "object" },
              spec: described(TOP_LEVEL.spec(kind), openApiSchema(v.spec, "spec")),
              ...(v.status
                ? {
                    status: described(TOP_LEVEL.status(kind), openApiSchema(v.status, "status")),
                  }
                : {}),
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
    description:
      "A Rollout delivers each new revision of a Deployment progressively: <name>-primary keeps serving the last good revision while the new one takes traffic step by step (or all at once after a preview, for blueGreen), every step gated on the analysis; it is promoted when the analysis passes and rolled back when it fails.",
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
    description:
      kind === "ClusterAnalysisTemplate"
        ? "Metrics and webhooks of a Rollout's analysis, written once for every namespace: a Rollout names it in analysis.templates with clusterScope: true, and its args."
        : "Metrics and webhooks of a Rollout's analysis, written once for the Rollouts of its namespace: each names it in analysis.templates, with its args.",
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
