import type { RolloutSpec } from "./rollout.ts";
import { API_VERSION, KIND } from "./rollout.ts";

// Fledge's own names on the objects it makes and steers, in one place: the labels and
// annotation people and tools select by, the finalizer, the owner reference, and the
// -primary/-canary names. They are part of Fledge's API as much as the Rollout's fields are.

export const LABELS = {
  managedBy: "app.kubernetes.io/managed-by",
  rollout: "fledge.dev/rollout",
} as const;
export const MANAGED_SELECTOR = `${LABELS.managedBy}=fledge`;
/** The revision (template hash) a primary Deployment and its pods were made from. */
export const REVISION_ANNOTATION = "fledge.dev/revision";
export const FINALIZER = "fledge.dev/finalizer";

export type OwnerRollout = { name: string; namespace: string; uid: string };

export function ownerReference(owner: OwnerRollout) {
  return {
    apiVersion: API_VERSION,
    kind: KIND,
    name: owner.name,
    uid: owner.uid,
    controller: true,
    blockOwnerDeletion: true,
  };
}

export function managedLabels(owner: OwnerRollout): Record<string, string> {
  return { [LABELS.managedBy]: "fledge", [LABELS.rollout]: owner.name };
}

export const primaryName = (target: string) => `${target}-primary`;

/** Primary selector values get a suffix so primary and canary pods never match each other's Services. */
export function primaryLabels(matchLabels: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(matchLabels).map(([k, v]) => [k, `${v}-primary`]));
}

/** The apex Service clients call (the user's name for it, or the target's) and the two behind it. */
export function serviceNames(spec: Pick<RolloutSpec, "service" | "targetRef">) {
  const apex = spec.service.name ?? spec.targetRef.name;
  return { apex, primaryService: `${apex}-primary`, canaryService: `${apex}-canary` };
}
