import { z } from "zod";
import { ObjectMeta, type SlimMeta, slimMeta } from "../api/common.ts";
import { canonical } from "./deployment.ts";

const RawAutoscaler = z.looseObject({
  metadata: ObjectMeta,
  spec: z.looseObject({
    scaleTargetRef: z.looseObject({
      apiVersion: z.string().optional(),
      kind: z.string(),
      name: z.string(),
    }),
    minReplicas: z.int().optional(),
    maxReplicas: z.int(),
    metrics: z.array(z.unknown()).optional(),
    behavior: z.unknown().optional(),
  }),
});

/** What the primary's autoscaler copies from the user's: everything but what it scales. */
export type ScalingPolicy = {
  minReplicas?: number;
  maxReplicas: number;
  metrics?: unknown[];
  behavior?: unknown;
};

/**
 * What the controller keeps of a HorizontalPodAutoscaler: what it scales and how, none of its
 * status (which its controller rewrites at every sync), no managedFields.
 */
export type AutoscalerView = {
  metadata: SlimMeta;
  scaleTargetRef: { apiVersion?: string; kind: string; name: string };
  policy: ScalingPolicy;
};

export function autoscalerView(raw: unknown): AutoscalerView | undefined {
  const parsed = RawAutoscaler.safeParse(raw);
  if (!parsed.success) return undefined;
  const { metadata, spec } = parsed.data;
  const { apiVersion, kind, name } = spec.scaleTargetRef;
  return {
    metadata: slimMeta(metadata),
    scaleTargetRef: { apiVersion, kind, name },
    policy: {
      minReplicas: spec.minReplicas,
      maxReplicas: spec.maxReplicas,
      metrics: spec.metrics,
      behavior: spec.behavior,
    },
  };
}

/** Two policies scale alike: the same fields, whatever order their keys were written in. */
export const samePolicy = (a: ScalingPolicy, b: ScalingPolicy) => canonical(a) === canonical(b);

/** The autoscaler scales this Deployment (apps/v1, or no version given). */
export function scalesDeployment(a: AutoscalerView, deployment: string): boolean {
  const { apiVersion, kind, name } = a.scaleTargetRef;
  return (
    kind === "Deployment" && name === deployment && (apiVersion ?? "apps/v1").startsWith("apps/")
  );
}
