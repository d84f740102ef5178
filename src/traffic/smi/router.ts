import { z } from "zod";
import { ObjectMeta, type SlimMeta, slimMeta } from "../../api/common.ts";
import { managedLabels, ownerReference } from "../../api/names.ts";
import { formatQuantity, parseQuantity } from "../../api/quantity.ts";
import { SPLIT_GROUP, type SplitVersion } from "../../api/smi.ts";
import type { KubeClient, KubeResult } from "../../kube/client.ts";

import type { ObjectStore } from "../crd-watched.ts";
import {
  ALL_TO_CANARY,
  type Capabilities,
  type Route,
  type RouteState,
  type Traffic,
  type TrafficRouter,
} from "../router.ts";
import { writeRouteGroup } from "./route-group.ts";
import { MATCHING_VERSIONS } from "./versions.ts";

/** What the cache keeps of a TrafficSplit, in any version: weights read as quantities. */
export type SplitView = {
  metadata: SlimMeta;
  service: string;
  backends: { service: string; weight: number }[];
  /** The HTTPRouteGroups the split is restricted to; empty when it takes all requests. */
  routeGroups: string[];
};

const RawSplit = z.looseObject({
  metadata: ObjectMeta,
  spec: z.looseObject({
    service: z.string(),
    backends: z.array(
      z.looseObject({ service: z.string(), weight: z.union([z.number(), z.string()]) }),
    ),
    matches: z.array(z.looseObject({ name: z.string() })).nullish(),
  }),
});

export function splitView(raw: unknown): SplitView | undefined {
  const parsed = RawSplit.safeParse(raw);
  if (!parsed.success) return undefined;
  const backends = parsed.data.spec.backends.map((b) => ({
    service: b.service,
    weight: parseQuantity(b.weight),
  }));
  if (backends.some((b) => b.weight === undefined)) return undefined;
  return {
    metadata: slimMeta(parsed.data.metadata),
    service: parsed.data.spec.service,
    backends: backends as SplitView["backends"],
    routeGroups: (parsed.data.spec.matches ?? []).map((m) => m.name),
  };
}

/** The canary's percentage of a split's weights, which SMI defines as relative to their sum. */
export function canaryPercent(split: SplitView, canaryService: string): number {
  const total = split.backends.reduce((sum, b) => sum + b.weight, 0);
  const canary = split.backends.find((b) => b.service === canaryService)?.weight ?? 0;
  return total > 0 ? Math.round((canary / total) * 100) : 0;
}

/** A/B routing's HTTPRouteGroup is named after the apex Service, as the split is. */
const routeGroupsOf = (route: Route) => (route.matches?.length ? [route.apex] : []);

function splitSpec(version: SplitVersion, route: Route, canaryWeight: number) {
  // v1alpha1 weights are resource quantities; later versions made them integers.
  const weight = (w: number) => (version === "v1alpha1" ? formatQuantity(w) : w);
  const groups = routeGroupsOf(route);
  return {
    service: route.apex,
    backends: [
      { service: route.primaryService, weight: weight(100 - canaryWeight) },
      { service: route.canaryService, weight: weight(canaryWeight) },
    ],
    ...(groups.length ? { matches: groups.map((name) => ({ kind: "HTTPRouteGroup", name })) } : {}),
  };
}

const collection = (version: SplitVersion, namespace: string) =>
  `/apis/${SPLIT_GROUP}/${version}/namespaces/${namespace}/trafficsplits`;

export type SplitStore = ObjectStore<SplitView>;

/** SMI TrafficSplit on the apex Service, in the version the rollout asked for or discovery chose. */
export class SmiRouter implements TrafficRouter {
  private readonly client: KubeClient;
  private readonly version: SplitVersion;
  private readonly splits: SplitStore;
  readonly capabilities: Capabilities;

  constructor(client: KubeClient, version: SplitVersion, splits: SplitStore) {
    this.client = client;
    this.version = version;
    this.splits = splits;
    this.capabilities = { matches: MATCHING_VERSIONS.includes(version), mirroring: false };
  }

  /** A split is in effect once written: SMI has no status that says otherwise. */
  observe(route: Route): RouteState {
    const split = this.splits.get(route.owner.namespace, route.apex);
    return {
      traffic: split
        ? { canaryWeight: canaryPercent(split, route.canaryService), mirrorPercent: 0 }
        : undefined,
    };
  }

  isWritten(route: Route, { canaryWeight, mirrorPercent }: Traffic): boolean {
    const current = this.splits.get(route.owner.namespace, route.apex);
    return (
      mirrorPercent === 0 &&
      current !== undefined &&
      current.service === route.apex &&
      current.routeGroups.join() === routeGroupsOf(route).join() &&
      current.backends.length === 2 &&
      current.backends[0]?.service === route.primaryService &&
      current.backends[0]?.weight === 100 - canaryWeight &&
      current.backends[1]?.service === route.canaryService &&
      current.backends[1]?.weight === canaryWeight
    );
  }

  /** The split sends every request to the canary Service, which selects the target's pods. */
  async finalize(route: Route): Promise<KubeResult<void>> {
    const all = { ...route, matches: undefined };
    return this.isWritten(all, ALL_TO_CANARY)
      ? { ok: true, value: undefined }
      : this.write(all, ALL_TO_CANARY);
  }

  async write(route: Route, { canaryWeight }: Traffic): Promise<KubeResult<void>> {
    const current = this.splits.get(route.owner.namespace, route.apex);
    const path = collection(this.version, route.owner.namespace);
    const spec = splitSpec(this.version, route, canaryWeight);
    // The route group goes first, so the split never refers to one that is not there yet. It
    // is written whenever the split is, which is when a rollout moves.
    if (route.matches?.length) {
      const wrote = await writeRouteGroup(this.client, this.version, route);
      if (!wrote.ok) return wrote;
    }
    const written = (result: KubeResult<unknown>): KubeResult<void> => {
      if (!result.ok) return result;
      this.splits.remember(result.value);
      return { ok: true, value: undefined };
    };
    if (!current) {
      return written(
        await this.client.create(path, {
          apiVersion: `${SPLIT_GROUP}/${this.version}`,
          kind: "TrafficSplit",
          metadata: {
            name: route.apex,
            namespace: route.owner.namespace,
            labels: managedLabels(route.owner),
            ownerReferences: [ownerReference(route.owner)],
          },
          spec,
        }),
      );
    }
    // A split that no longer has matches takes all requests again (null deletes in a merge patch).
    return written(
      await this.client.patch(`${path}/${route.apex}`, { spec: { matches: null, ...spec } }),
    );
  }
}
