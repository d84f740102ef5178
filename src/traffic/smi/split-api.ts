import { SPLIT_GROUP, SPLIT_VERSIONS, type SplitVersion } from "../../api/smi.ts";
import { crdVersions, type ServedVersions } from "../crd-watched.ts";

/** The CustomResourceDefinition that makes the cluster serve TrafficSplits. */
export const SPLIT_CRD = `trafficsplits.${SPLIT_GROUP}`;

/** What the split CRD says: the versions the apiserver serves, newest last; none until Established. */
export function splitApi(raw: unknown): ServedVersions<SplitVersion> | undefined {
  const crd = crdVersions(raw);
  return (
    crd && {
      metadata: { name: crd.name },
      served: SPLIT_VERSIONS.filter((v) => crd.versions.has(v)),
    }
  );
}
