import { z } from "zod";
import { ObjectMeta } from "../api/common.ts";
import { createInformer, type Informer } from "../kube/informer.ts";
import type { TrafficHooks, TrafficOptions } from "./router.ts";

/** An OpenAPI schema, as far as a router asks it which fields a version has. */
export type Schema = { properties?: Record<string, Schema>; items?: Schema };

const RawCrd = z.looseObject({
  metadata: ObjectMeta,
  spec: z.looseObject({
    versions: z
      .array(
        z.looseObject({
          name: z.string(),
          served: z.boolean(),
          schema: z.looseObject({ openAPIV3Schema: z.custom<Schema>() }).optional(),
        }),
      )
      .default([]),
  }),
  status: z
    .looseObject({
      conditions: z.array(z.looseObject({ type: z.string(), status: z.string() })).default([]),
    })
    .optional(),
});

/**
 * A CRD's name and the versions the apiserver serves of it, each with its schema; none until the
 * CRD is Established, as until then nothing of it is served.
 */
export function crdVersions(
  raw: unknown,
): { name: string; versions: Map<string, Schema | undefined> } | undefined {
  const parsed = RawCrd.safeParse(raw);
  if (!parsed.success) return undefined;
  const { metadata, spec, status } = parsed.data;
  const established = (status?.conditions ?? []).some(
    (c) => c.type === "Established" && c.status === "True",
  );
  const served = established ? spec.versions.filter((v) => v.served) : [];
  return {
    name: metadata.name,
    versions: new Map(served.map((v) => [v.name, v.schema?.openAPIV3Schema])),
  };
}

/** What a router's CRD says: the versions it serves now, newest last, each as the router sees it. */
export type ServedVersions<V> = { metadata: { name: string }; served: V[] };

export type CrdWatchedApi<V, View> = {
  /** The CRD's name; only it is watched. */
  crd: string;
  /** What the logs call the API. */
  kind: string;
  served(raw: unknown): ServedVersions<V> | undefined;
  /** The informer of the API's objects, in the newest version served. */
  objects(newest: V): {
    path: string;
    /** A router's objects are those labelled with their Rollout; shared kinds are all watched. */
    labelSelector?: string;
    transform(raw: unknown): View | undefined;
  };
};

/** A router's objects as a cache: what the watch shows, and what its own writes returned. */
export type ObjectStore<View> = {
  get(namespace: string, name: string): View | undefined;
  remember(raw: unknown): void;
};

/**
 * A router API served by a CRD: the CRD is watched, so support installed or upgraded while the
 * controller runs is seen at once, and a cluster without it costs no request per reconcile. The
 * objects' informer starts once the CRD is there; every served version reads the same stored
 * objects, so one informer on the newest sees them all. It sees only the objects labelled with
 * their Rollout, so an event finds its owner at once. A version counts once the objects' cache
 * is synced, so that no rollout writes an object the cache does not know of.
 */
export function crdWatched<
  V,
  View extends { metadata: { name: string; namespace?: string; labels?: Record<string, string> } },
>(options: TrafficOptions, hooks: TrafficHooks, api: CrdWatchedApi<V, View>) {
  const { kubeConfig, logger } = options;
  let served: V[] = [];
  let objects: Informer<View> | undefined;
  const crd = createInformer<ServedVersions<V>>({
    kubeConfig,
    path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    fieldSelector: `metadata.name=${api.crd}`,
    transform: api.served,
    logger: logger.child({ informer: `${api.kind}-crd` }),
  });
  crd.onReconnect(hooks.reconnected);
  const startObjects = (newest: V) => {
    const informer = createInformer<View>({
      kubeConfig,
      ...api.objects(newest),
      logger: logger.child({ informer: api.kind }),
    });
    informer.onEvent((_type, o) => hooks.objectChanged(o));
    informer.onReconnect(hooks.reconnected);
    informer
      .start()
      .then(hooks.apiChanged, (e) =>
        logger.error({ err: e }, `could not start the ${api.kind} informer`),
      );
    return informer;
  };
  crd.onEvent((type, next) => {
    served = type === "DELETED" ? [] : next.served;
    logger.info({ versions: served }, `${api.kind} API changed`);
    const newest = served[served.length - 1];
    if (!objects && newest !== undefined) objects = startObjects(newest);
    else hooks.apiChanged();
  });
  const store: ObjectStore<View> = {
    get: (ns, name) => objects?.get(ns, name),
    remember: (raw) => objects?.remember(raw),
  };
  return {
    store,
    served: (): readonly V[] => (objects?.synced ? served : []),
    /** Every object cached; undefined while the API is not served. */
    list: (): View[] | undefined => (objects?.synced && served.length ? objects.list() : undefined),
    informers: (): Informer<{ metadata: { name: string } }>[] => [
      crd,
      ...(objects ? [objects] : []),
    ],
    async start(): Promise<boolean> {
      await crd.start();
      // The CRD's first list made the objects' informer, if the cluster serves the API.
      await objects?.start();
      return objects !== undefined;
    },
  };
}
