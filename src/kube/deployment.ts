import { createHash } from "node:crypto";
import { z } from "zod";
import { ObjectMeta } from "../api/common.ts";
import { REVISION_ANNOTATION } from "../api/names.ts";

/** Stable JSON: keys sorted, so equal templates hash equally whatever order they were written in. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

/** A revision is the pod template's content; ten hex digits, like Kubernetes' pod-template-hash. */
export function templateHash(template: unknown): string {
  return createHash("sha256").update(canonical(template)).digest("hex").slice(0, 10);
}

const Container = z.looseObject({
  restartPolicy: z.string().optional(),
  ports: z
    .array(z.looseObject({ name: z.string().optional(), protocol: z.string().optional() }))
    .optional(),
});

const RawDeployment = z.looseObject({
  metadata: ObjectMeta,
  spec: z.looseObject({
    replicas: z.int().optional(),
    selector: z.looseObject({
      matchLabels: z.record(z.string(), z.string()).optional(),
      matchExpressions: z.array(z.unknown()).optional(),
    }),
    template: z.looseObject({
      metadata: z.looseObject({ labels: z.record(z.string(), z.string()).optional() }).optional(),
      spec: z
        .looseObject({
          containers: z.array(Container).optional(),
          initContainers: z.array(Container).optional(),
        })
        .optional(),
    }),
  }),
  status: z
    .looseObject({
      observedGeneration: z.int().optional(),
      replicas: z.int().optional(),
      updatedReplicas: z.int().optional(),
      readyReplicas: z.int().optional(),
      availableReplicas: z.int().optional(),
    })
    .optional(),
});
export type RawDeployment = z.infer<typeof RawDeployment>;

/**
 * What the controller keeps of a Deployment in its cache: of the template only its pods' labels
 * and named ports, no managedFields.
 */
export type DeploymentView = {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    resourceVersion: string;
    generation: number;
    labels: Record<string, string>;
    annotations: Record<string, string>;
  };
  replicas: number;
  matchLabels: Record<string, string> | undefined;
  hasMatchExpressions: boolean;
  /** The labels its pods carry: what another app's selectors would select them by. */
  podLabels: Record<string, string>;
  /** The names of its pods' TCP ports, the ones a Service's named targetPort can resolve to. */
  portNames: string[];
  templateHash: string;
  /** Fully rolled out at its current generation, every replica updated and available. */
  rolledOut: boolean;
  /**
   * A Rollout's target keeps its spec (the pod template the primary copies at promotion), so
   * promotion needs no read; other Deployments keep none of it.
   */
  source?: RawDeployment;
};

export function parseDeployment(raw: unknown): RawDeployment | undefined {
  const parsed = RawDeployment.safeParse(raw);
  return parsed.success ? parsed.data : undefined;
}

export function deploymentView(raw: unknown, keepSpec = false): DeploymentView | undefined {
  const d = parseDeployment(raw);
  if (!d) return undefined;
  const replicas = d.spec.replicas ?? 1;
  const s = d.status ?? {};
  const generation = d.metadata.generation ?? 0;
  return {
    metadata: {
      name: d.metadata.name,
      namespace: d.metadata.namespace ?? "",
      uid: d.metadata.uid ?? "",
      resourceVersion: d.metadata.resourceVersion ?? "",
      generation,
      labels: d.metadata.labels ?? {},
      annotations: pick(d.metadata.annotations, [REVISION_ANNOTATION]),
    },
    replicas,
    matchLabels: d.spec.selector.matchLabels,
    hasMatchExpressions: (d.spec.selector.matchExpressions?.length ?? 0) > 0,
    podLabels: d.spec.template.metadata?.labels ?? {},
    portNames: tcpPortNames(d.spec.template.spec),
    templateHash: templateHash(d.spec.template),
    rolledOut:
      (s.observedGeneration ?? -1) >= generation &&
      (s.updatedReplicas ?? 0) === replicas &&
      (s.replicas ?? 0) === replicas &&
      (s.availableReplicas ?? 0) === replicas,
    source: keepSpec
      ? { metadata: { name: d.metadata.name, namespace: d.metadata.namespace }, spec: d.spec }
      : undefined,
  };
}

type PodSpec = NonNullable<RawDeployment["spec"]["template"]["spec"]>;

/**
 * The endpoints controller resolves a named targetPort in the pod's containers and in its
 * sidecars (init containers that keep running), with the Service port's protocol: TCP for Fledge's.
 */
function tcpPortNames(pod: PodSpec | undefined): string[] {
  const sidecars = (pod?.initContainers ?? []).filter((c) => c.restartPolicy === "Always");
  return [...(pod?.containers ?? []), ...sidecars].flatMap((c) =>
    (c.ports ?? []).flatMap((p) => ((p.protocol ?? "TCP") === "TCP" && p.name ? [p.name] : [])),
  );
}

function pick(record: Record<string, string> | undefined, keys: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const k of keys) if (record?.[k] !== undefined) out[k] = record[k];
  return out;
}

/** The canary is ready for traffic: at the revision, scaled up, every pod available. */
export const canaryReady = (d: DeploymentView, revision: string) =>
  d.templateHash === revision && d.replicas > 0 && d.rolledOut;

/** The revision a primary serves, once fully rolled out; undefined while it is moving. */
export const primaryRevision = (d: DeploymentView) => d.metadata.annotations[REVISION_ANNOTATION];
