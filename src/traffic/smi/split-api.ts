import { z } from "zod";
import { ObjectMeta } from "../../api/common.ts";
import { SPLIT_GROUP, SPLIT_VERSIONS, type SplitVersion } from "../../api/smi.ts";
import type { ServedVersions } from "../crd-watched.ts";

/** The CustomResourceDefinition that makes the cluster serve TrafficSplits. */
export const SPLIT_CRD = `trafficsplits.${SPLIT_GROUP}`;

const RawCrd = z.looseObject({
  metadata: ObjectMeta,
  spec: z.looseObject({
    versions: z.array(z.looseObject({ name: z.string(), served: z.boolean() })).default([]),
  }),
  status: z
    .looseObject({
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).default([]),
    })
    .optional(),
});

/** What the split CRD says: the versions the apiserver serves, newest last; none until Established. */
export function splitApi(raw: unknown): ServedVersions<SplitVersion> | undefined {
  const parsed = RawCrd.safeParse(raw);
  if (!parsed.success) return undefined;
  const { metadata, spec, status } = parsed.data;
  const established = (status?.conditions ?? []).some(
    (c) => c.type === "Established" && c.status === "True",
  );
  const served = new Set(spec.versions.filter((v) => v.served).map((v) => v.name));
  return {
    metadata: { name: metadata.name },
    served: established ? SPLIT_VERSIONS.filter((v) => served.has(v)) : [],
  };
}
