import { z } from "zod";

/** CEL rules the CRD enforces at admission; read by the CRD generator. */
export type CelRule = { rule: string; message: string; fieldPath?: string; reason?: string };
export const cel = (...rules: CelRule[]) => ({ "x-kubernetes-validations": rules });

const DURATION = /^(\d+(\.\d+)?(ms|s|m|h))+$/;
const UNIT_MS: Record<string, number> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** A Go-style duration such as "30s", "2m" or "1h30m", the form Kubernetes users already write. */
export const Duration = z
  .string()
  .regex(DURATION, { error: 'must be a duration such as "30s", "2m" or "1h30m"' })
  .meta({ description: 'A duration such as "30s", "2m" or "1h30m" (units ms, s, m, h).' });

export function durationMs(duration: string): number {
  let total = 0;
  for (const [, amount, , unit] of duration.matchAll(/(\d+(\.\d+)?)(ms|s|m|h)/g)) {
    total += Number(amount) * (UNIT_MS[unit ?? "s"] ?? 0);
  }
  return Math.round(total);
}

/**
 * A duration the machine times by, refused at admission below `min`: an interval of 0 never
 * comes due and a plan cannot be built from it. The same rule runs in the controller's schema
 * (for a cluster whose CRD is older) and as CEL in the CRD.
 */
export function durationAtLeast(min: string) {
  const message = `must be at least ${min}`;
  return Duration.refine((d) => !DURATION.test(d) || durationMs(d) >= durationMs(min), {
    error: message,
  }).meta(cel({ rule: `duration(self) >= duration('${min}')`, message }));
}

/**
 * An http(s) URL. zod's URL check is only a format in the CRD, which the apiserver does not hold
 * to the scheme; the CEL rule does, so admission, the controller and lint refuse the same URLs.
 */
export const HttpUrl = z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }).meta(
  cel({
    rule: "self.startsWith('http://') || self.startsWith('https://')",
    message: "must be an http(s) URL",
  }),
);

/** RFC 1123 label: the names Kubernetes accepts for Services and most objects. */
export const DnsLabel = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, {
    error:
      "must be a lowercase RFC 1123 label (a-z, 0-9 and '-', starting and ending alphanumeric)",
  });

/** RFC 1123 subdomain: Deployment names may contain dots. */
export const DnsSubdomain = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/, {
    error: "must be a lowercase RFC 1123 subdomain",
  });

/** Kubernetes int-or-string, as in a Service's targetPort; the CRD marks it x-kubernetes-int-or-string. */
export const IntOrString = z.union([z.int().min(0), z.string().min(1)]);

export const Port = z.int().min(1).max(65535);

export const ConditionStatus = z.enum(["True", "False", "Unknown"]);

/** metav1.Condition: the Kubernetes API conventions' shape for status conditions. */
export const Condition = z
  .object({
    type: z.string().min(1).meta({ description: "The condition's type, in CamelCase." }),
    status: ConditionStatus.meta({ description: "True, False or Unknown." }),
    reason: z
      .string()
      .regex(/^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/, {
        error: "must be CamelCase",
      })
      .meta({ description: "A CamelCase word saying why the condition is as it is." }),
    message: z.string().meta({ description: "What happened, for a person to read." }),
    lastTransitionTime: z.string().meta({
      description: "When status last changed (RFC 3339).",
    }),
    observedGeneration: z.int().min(0).optional().meta({
      description: "The metadata.generation of the spec the condition was judged on.",
    }),
  })
  .meta({ description: "One aspect of the object's state, as metav1.Condition." });
export type Condition = z.infer<typeof Condition>;

/** The part of ObjectMeta Fledge reads; everything else on the object is kept as it is. */
export const ObjectMeta = z.looseObject({
  name: z.string(),
  namespace: z.string().optional(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  generation: z.int().optional(),
  creationTimestamp: z.string().optional(),
  deletionTimestamp: z.string().optional(),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  finalizers: z.array(z.string()).optional(),
  ownerReferences: z.array(z.looseObject({})).optional(),
});
export type ObjectMeta = z.infer<typeof ObjectMeta>;

/** What a cache keeps of the metadata of an object Fledge makes or reads by its labels. */
export type SlimMeta = {
  name: string;
  namespace: string;
  resourceVersion: string;
  labels: Record<string, string>;
};

export const slimMeta = (m: ObjectMeta): SlimMeta => ({
  name: m.name,
  namespace: m.namespace ?? "",
  resourceVersion: m.resourceVersion ?? "",
  labels: m.labels ?? {},
});
