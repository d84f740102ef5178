import { z } from "zod";
import { ObjectMeta, type SlimMeta, slimMeta } from "../api/common.ts";
import { managedLabels, type OwnerRollout, ownerReference } from "../api/names.ts";

const RawService = z.looseObject({
  metadata: ObjectMeta,
  spec: z.looseObject({
    selector: z.record(z.string(), z.string()).optional(),
    ports: z
      .array(
        z.looseObject({
          name: z.string().optional(),
          port: z.int(),
          targetPort: z.union([z.int(), z.string()]).optional(),
        }),
      )
      .optional(),
  }),
});

export type ServiceView = {
  metadata: SlimMeta;
  selector: Record<string, string>;
  ports: { name?: string; port: number; targetPort?: number | string }[];
};

export function serviceView(raw: unknown): ServiceView | undefined {
  const parsed = RawService.safeParse(raw);
  if (!parsed.success) return undefined;
  const { metadata, spec } = parsed.data;
  return {
    metadata: slimMeta(metadata),
    selector: spec.selector ?? {},
    ports: (spec.ports ?? []).map((p) => ({
      name: p.name,
      port: p.port,
      targetPort: p.targetPort,
    })),
  };
}

export type ServicePort = { name: string; port: number; targetPort: number | string };

export function serviceManifest(
  name: string,
  selector: Record<string, string>,
  port: ServicePort,
  owner: OwnerRollout,
) {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: {
      name,
      namespace: owner.namespace,
      labels: managedLabels(owner),
      ownerReferences: [ownerReference(owner)],
    },
    spec: { type: "ClusterIP", selector, ports: [{ ...port, protocol: "TCP" }] },
  };
}

const sameRecord = (a: Record<string, string>, b: Record<string, string>) =>
  Object.keys(a).length === Object.keys(b).length &&
  Object.entries(a).every(([k, v]) => b[k] === v);

/** Whether the Service already routes as wanted; Fledge writes only when it does not. */
export function serviceMatches(
  current: ServiceView,
  selector: Record<string, string>,
  port: ServicePort,
): boolean {
  const [p] = current.ports;
  return (
    sameRecord(current.selector, selector) &&
    current.ports.length === 1 &&
    p?.port === port.port &&
    p.name === port.name &&
    String(p.targetPort ?? p.port) === String(port.targetPort)
  );
}
