import { SPLIT_GROUP, SPLIT_VERSIONS, type SplitVersion } from "../../api/smi.ts";
import type { KubeClient, KubeResult } from "../../kube/client.ts";

type ApiGroup = { versions?: { version: string }[] };

/** The split versions the cluster serves, newest last, from API discovery. */
export async function servedSplitVersions(client: KubeClient): Promise<KubeResult<SplitVersion[]>> {
  const group = await client.get<ApiGroup>(`/apis/${SPLIT_GROUP}`);
  if (!group.ok) return group;
  const served = new Set((group.value.versions ?? []).map((v) => v.version));
  return { ok: true, value: SPLIT_VERSIONS.filter((v) => served.has(v)) };
}

/** The split versions that carry HTTPRouteGroup matches (A/B routing). */
export const MATCHING_VERSIONS: readonly SplitVersion[] = ["v1alpha3", "v1alpha4"];

/** `auto` takes the newest served version; a pinned version must be served. */
export function chooseSplitVersion(
  wanted: string,
  served: readonly SplitVersion[],
  matches = false,
): { ok: true; version: SplitVersion } | { ok: false; reason: string } {
  const chosen = chooseServed(wanted, served);
  if (!chosen.ok || !matches || MATCHING_VERSIONS.includes(chosen.version)) return chosen;
  return {
    ok: false,
    reason: `matches need ${SPLIT_GROUP}/v1alpha3 or v1alpha4; this cluster serves ${served.join(", ")}`,
  };
}

function chooseServed(
  wanted: string,
  served: readonly SplitVersion[],
): { ok: true; version: SplitVersion } | { ok: false; reason: string } {
  if (wanted === "auto") {
    const newest = served[served.length - 1];
    return newest
      ? { ok: true, version: newest }
      : { ok: false, reason: `the cluster serves no ${SPLIT_GROUP} version` };
  }
  const version = wanted.split("/")[1] as SplitVersion;
  return served.includes(version)
    ? { ok: true, version }
    : { ok: false, reason: `${wanted} is not served (served: ${served.join(", ") || "none"})` };
}
