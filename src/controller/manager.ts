import http from "node:http";
import type { Analyst } from "../analysis/analyst.ts";
import { createAnalyst } from "../analysis/index.ts";
import { GROUP, PLURAL, VERSION } from "../api/rollout.ts";
import { SPLIT_GROUP, type SplitVersion } from "../api/smi.ts";
import { KubeClient, type KubeResult, writeCounter } from "../kube/client.ts";
import {
  type DeploymentView,
  deploymentView,
  LABELS,
  MANAGED_SELECTOR,
} from "../kube/deployment.ts";
import { createInformer, type Informer } from "../kube/informer.ts";
import type { ApiAccess } from "../kube/request.ts";
import { type ServiceView, serviceView } from "../kube/service.ts";
import { EventRecorder } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import { ControllerMetrics } from "../observability/metrics.ts";
import { SmiRouter, type SplitStore, type SplitView, splitView } from "../traffic/smi/router.ts";
import { servedSplitVersions } from "../traffic/smi/versions.ts";
import { startLeaderElection } from "./leader.ts";
import { WorkQueue } from "./queue.ts";
import { Reconciler } from "./reconciler.ts";
import { type RolloutObject, rolloutObject } from "./rollout-object.ts";

export type ManagerOptions = {
  kubeConfig: ApiAccess;
  /** Watch one namespace only; all namespaces when undefined. */
  namespace?: string;
  workers: number;
  /** Port for /healthz, /readyz and /metrics; 0 picks a free one; undefined serves none. */
  metricsPort?: number;
  logger: Logger;
  identity: string;
  /** Namespace of the leader-election Lease; no election when undefined (one replica, or tests). */
  leaseNamespace?: string;
  /** Replaces the analyst built from the Prometheus options below. */
  analyst?: Analyst;
  /** Where Prometheus metrics are read when a Rollout names no address. */
  prometheusAddress?: string;
  /** Prometheus's scrape interval, when its /api/v1/status/config cannot be read. */
  prometheusScrapeIntervalMs?: number;
  now?: () => number;
  /** Called when leadership is lost: the process should exit so a fresh one can stand again. */
  onLostLeadership?: () => void;
  /** Only tests set it: SIGKILL right after this many writes (see writeCounter). */
  crashAfterWrites?: number;
};

export type Manager = {
  /** The port /metrics listens on, once started. */
  port: number | undefined;
  metrics: ControllerMetrics;
  stop(): Promise<void>;
};

const scoped = (namespace: string | undefined, group: string, resource: string) =>
  `${group}${namespace ? `/namespaces/${namespace}` : ""}/${resource}`;

// No split API served at start means no split informer, and a split API installed later is
// written without a cache until the controller restarts.
const noSplits: SplitStore = { get: () => undefined, remember: () => {} };

/** Wires the informers, the work queue, the reconciler, leader election and the HTTP endpoints. */
export async function startManager(options: ManagerOptions): Promise<Manager> {
  const { kubeConfig, namespace, logger } = options;
  const metrics = new ControllerMetrics();
  const countWrite = writeCounter(logger, options.crashAfterWrites);
  const client = await KubeClient.fromKubeConfig(kubeConfig, (method, path, ok) => {
    metrics.apiRequests.inc({ method, result: ok ? "success" : "failure" });
    countWrite(method, path, ok);
  });

  let splitVersionsCache: SplitVersion[] | undefined;
  const splitVersions = async (): Promise<KubeResult<SplitVersion[]>> => {
    if (splitVersionsCache) return { ok: true, value: splitVersionsCache };
    const found = await servedSplitVersions(client);
    if (found.ok && found.value.length > 0) splitVersionsCache = found.value;
    return found;
  };

  const rollouts = createInformer<RolloutObject>({
    kubeConfig,
    path: scoped(namespace, `/apis/${GROUP}/${VERSION}`, PLURAL),
    transform: rolloutObject,
    logger: logger.child({ informer: "rollouts" }),
  });
  // The Rollouts targeting each Deployment ("namespace/name" keys both).
  const byTarget = new Map<string, Set<string>>();
  const keyOf = (ns: string | undefined, name: string) => `${ns ?? ""}/${name}`;
  const isTarget = (raw: unknown) => {
    const m = (raw as { metadata?: { namespace?: string; name?: string } }).metadata;
    return (byTarget.get(keyOf(m?.namespace, m?.name ?? ""))?.size ?? 0) > 0;
  };
  // Deployments are the one kind Fledge cannot label (the target is the user's, untouched but
  // for replicas), so this cache keeps a slim view of each: no managedFields, and no template
  // but a target's.
  const deployments = createInformer<DeploymentView>({
    kubeConfig,
    path: scoped(namespace, "/apis/apps/v1", "deployments"),
    transform: (raw) => deploymentView(raw, isTarget(raw)),
    logger: logger.child({ informer: "deployments" }),
  });
  const services = createInformer<ServiceView>({
    kubeConfig,
    path: scoped(namespace, "/api/v1", "services"),
    labelSelector: MANAGED_SELECTOR,
    transform: serviceView,
    logger: logger.child({ informer: "services" }),
  });
  const discovered = await splitVersions();
  const newest = discovered.ok ? discovered.value[discovered.value.length - 1] : undefined;
  // Every served split version reads the same stored objects, so one informer on the newest sees them all.
  const splits = newest
    ? createInformer<SplitView>({
        kubeConfig,
        path: scoped(namespace, `/apis/${SPLIT_GROUP}/${newest}`, "trafficsplits"),
        labelSelector: MANAGED_SELECTOR,
        transform: splitView,
        logger: logger.child({ informer: "trafficsplits" }),
      })
    : undefined;
  if (!newest)
    logger.warn(
      "the cluster serves no SMI TrafficSplit API; rollouts will report RoutingUnavailable",
    );

  const events = new EventRecorder(client, logger, options.identity);
  const reconciler = new Reconciler({
    client,
    rollouts,
    deployments,
    services,
    splitVersions,
    router: (version) => new SmiRouter(client, version, splits ?? noSplits),
    analyst:
      options.analyst ??
      createAnalyst({
        client,
        logger,
        prometheusAddress: options.prometheusAddress,
        scrapeIntervalMs: options.prometheusScrapeIntervalMs,
      }),
    events,
    logger,
    now: options.now ?? Date.now,
    metrics,
  });

  const queue = new WorkQueue({
    workers: options.workers,
    logger: logger.child({ subsystem: "workqueue" }),
    handler: async (key) => {
      const end = metrics.reconcileDuration.startTimer();
      try {
        return await reconciler.reconcile(key);
      } catch (e) {
        metrics.reconcileErrors.inc();
        const [ns, name] = key.split("/");
        logger.error({ namespace: ns, name, err: e }, "reconcile failed; retrying");
        throw e;
      } finally {
        end();
        metrics.queueDepth.set(queue.depth);
      }
    },
  });

  // Which rollouts to wake for a Deployment: those targeting it, and the one owning a primary.
  const targetOf = (r: RolloutObject) =>
    (r.spec as { targetRef?: { name?: unknown } } | undefined)?.targetRef?.name;
  rollouts.onEvent((type, r, old) => {
    const key = keyOf(r.metadata.namespace, r.metadata.name);
    for (const o of [old, r]) {
      const t = o ? targetOf(o) : undefined;
      if (o && typeof t === "string") byTarget.get(keyOf(o.metadata.namespace, t))?.delete(key);
    }
    const t = targetOf(r);
    if (type !== "DELETED" && typeof t === "string") {
      const k = keyOf(r.metadata.namespace, t);
      byTarget.set(k, (byTarget.get(k) ?? new Set()).add(key));
    }
    if (type === "DELETED") metrics.forget(r.metadata.namespace, r.metadata.name);
    else queue.add(key);
  });
  const wakeOwner = (obj: {
    metadata: { namespace?: string; labels?: Record<string, string> };
  }) => {
    const owner = obj.metadata.labels?.[LABELS.rollout];
    if (owner) queue.add(keyOf(obj.metadata.namespace, owner));
  };
  deployments.onEvent((_type, d) => {
    wakeOwner(d);
    for (const key of byTarget.get(keyOf(d.metadata.namespace, d.metadata.name)) ?? [])
      queue.add(key);
  });
  services.onEvent((_type, s) => wakeOwner(s));
  // The split informer sees only the splits Fledge made, each labelled with its Rollout, so an
  // event finds its owner at once rather than by a scan of every Rollout.
  splits?.onEvent((_type, s) => wakeOwner(s));

  let leading = false;
  const caches = [deployments, services, ...(splits ? [splits] : []), rollouts] as Informer<{
    metadata: { name: string };
  }>[];
  const lead = async () => {
    await Promise.all(caches.map((c) => c.start()));
    queue.start();
    leading = true;
    logger.info({ workers: options.workers }, "leading: caches synced, workers started");
  };

  const server =
    options.metricsPort === undefined
      ? undefined
      : http.createServer(async (req, res) => {
          if (req.url === "/healthz") return res.writeHead(200).end("ok");
          if (req.url === "/readyz") {
            // A standby replica is ready: it is healthy and waiting for the lease.
            const standby = options.leaseNamespace !== undefined && !leading;
            const ready = standby || (leading && caches.every((c) => c.synced));
            return res.writeHead(ready ? 200 : 503).end(ready ? "ok" : "caches not synced");
          }
          if (req.url === "/metrics") {
            metrics.queueDepth.set(queue.depth);
            res.writeHead(200, { "content-type": metrics.registry.contentType });
            return res.end(await metrics.registry.metrics());
          }
          res.writeHead(404).end();
        });
  if (server) await new Promise<void>((resolve) => server.listen(options.metricsPort, resolve));
  const port = server ? (server.address() as { port: number }).port : undefined;

  const election = options.leaseNamespace
    ? startLeaderElection({
        kubeConfig,
        namespace: options.leaseNamespace,
        name: "fledge-controller",
        identity: options.identity,
        logger: logger.child({ subsystem: "leader" }),
        onStartedLeading: () => {
          lead().catch((e) => logger.error({ err: e }, "could not start leading"));
        },
        onStoppedLeading: () => {
          logger.warn("lost leadership");
          options.onLostLeadership?.();
        },
      })
    : undefined;
  if (!election) await lead();

  return {
    port,
    metrics,
    async stop() {
      await queue.shutdown();
      await events.flush();
      await Promise.all(caches.map((c) => c.stop()));
      await election?.stop();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}
