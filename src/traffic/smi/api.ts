import { SPLIT_GROUP, type SplitVersion } from "../../api/smi.ts";
import type { KubeClient } from "../../kube/client.ts";
import { MANAGED_SELECTOR } from "../../kube/deployment.ts";
import { createInformer, type Informer, scoped } from "../../kube/informer.ts";
import type { ApiAccess } from "../../kube/request.ts";
import type { Logger } from "../../observability/logger.ts";
import type { TrafficApi, TrafficHooks } from "../router.ts";
import { type SplitStore, type SplitView, splitView } from "./router.ts";
import { smiRouters } from "./routers.ts";
import { SPLIT_CRD, type SplitApi, splitApi } from "./split-api.ts";

export type SmiOptions = {
  kubeConfig: ApiAccess;
  client: KubeClient;
  namespace: string | undefined;
  logger: Logger;
};

/**
 * SMI as the controller runs it. The split versions come from the split CRD, watched: SMI
 * support installed or upgraded while the controller runs is seen at once, and a cluster
 * without it costs no request per reconcile. A version counts once the split cache is synced,
 * so that no rollout writes a split the cache does not know of.
 */
export function smiTraffic(options: SmiOptions, hooks: TrafficHooks): TrafficApi {
  const { kubeConfig, client, namespace, logger } = options;
  let served: SplitVersion[] = [];
  let splits: Informer<SplitView> | undefined;
  const store: SplitStore = {
    get: (ns, name) => splits?.get(ns, name),
    remember: (raw) => splits?.remember(raw),
  };
  const crd = createInformer<SplitApi>({
    kubeConfig,
    path: "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
    fieldSelector: `metadata.name=${SPLIT_CRD}`,
    transform: splitApi,
    logger: logger.child({ informer: "split-crd" }),
  });
  crd.onReconnect(hooks.reconnected);
  const startSplits = (version: SplitVersion) => {
    // Every served split version reads the same stored objects, so one informer on the newest
    // sees them all. It sees only the splits Fledge made, each labelled with its Rollout, so an
    // event finds its owner at once rather than by a scan of every Rollout.
    const informer = createInformer<SplitView>({
      kubeConfig,
      path: scoped(namespace, `/apis/${SPLIT_GROUP}/${version}`, "trafficsplits"),
      labelSelector: MANAGED_SELECTOR,
      transform: splitView,
      logger: logger.child({ informer: "trafficsplits" }),
    });
    informer.onEvent((_type, s) => hooks.objectChanged(s));
    informer.onReconnect(hooks.reconnected);
    informer
      .start()
      .then(hooks.apiChanged, (e) =>
        logger.error({ err: e }, "could not start the split informer"),
      );
    return informer;
  };
  crd.onEvent((type, api) => {
    served = type === "DELETED" ? [] : api.versions;
    logger.info({ versions: served }, "split API changed");
    const newest = served[served.length - 1];
    if (!splits && newest) splits = startSplits(newest);
    else hooks.apiChanged();
  });
  return {
    routers: smiRouters(client, store, () => (splits?.synced ? served : [])),
    informers: () => [crd, ...(splits ? [splits] : [])],
    async start() {
      await crd.start();
      // The split CRD's first list made the split informer, if the cluster serves splits.
      await splits?.start();
      if (!splits)
        logger.warn(
          "the cluster serves no SMI TrafficSplit API; rollouts will report RoutingUnavailable",
        );
    },
  };
}
