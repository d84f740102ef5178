import http from "node:http";
import type { Analyst } from "../analysis/analyst.ts";
import { createAnalyst } from "../analysis/index.ts";
import { LABELS, MANAGED_SELECTOR } from "../api/names.ts";
import { GROUP, PLURAL, VERSION } from "../api/rollout.ts";
import { type AutoscalerView, autoscalerView } from "../kube/autoscaler.ts";
import { KubeClient, writeCounter } from "../kube/client.ts";
import { type DeploymentView, deploymentView } from "../kube/deployment.ts";
import { underFence } from "../kube/fence.ts";
import { createInformer, type Informer, scoped } from "../kube/informer.ts";
import type { ApiAccess } from "../kube/request.ts";
import { type ServiceView, serviceView } from "../kube/service.ts";
import { EventRecorder } from "../observability/events.ts";
import type { Logger } from "../observability/logger.ts";
import { ControllerMetrics } from "../observability/metrics.ts";
import { trafficApis } from "../traffic/routers.ts";
import { Apps } from "./apps.ts";
import { startLeaderElection } from "./leader.ts";
import { WorkQueue } from "./queue.ts";
import { Reconciler } from "./reconciler.ts";
import { type RolloutObject, rolloutObject, specValidProblem } from "./rollout-object.ts";
import { autoscalerUsers } from "./rollout-refs.ts";
import type { LeaseTiming } from "./shard-leases.ts";
import { type ShardOwnership, shardOwnership } from "./shard-ownership.ts";
import { TemplateUsers } from "./template-users.ts";
import { templateCaches } from "./templates.ts";

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
  /**
   * Splits the Rollouts into this many shards, each owned through its own Lease in
   * leaseNamespace, so that replicas share the work instead of one leading; needs leaseNamespace.
   */
  shards?: number;
  /** The shards' lease periods (tests shorten them). */
  shardLeaseTiming?: LeaseTiming;
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
  /** How many moves and checks each Rollout's status keeps (status.history). */
  historyLimit?: number;
};

export type Manager = {
  /** The port /metrics listens on, once started. */
  port: number | undefined;
  metrics: ControllerMetrics;
  stop(): Promise<void>;
};

/** Wires the informers, the work queue, the reconciler, leader election and the HTTP endpoints. */
export async function startManager(options: ManagerOptions): Promise<Manager> {
  const { kubeConfig, namespace, logger } = options;
  const metrics = new ControllerMetrics();
  const countWrite = writeCounter(logger, options.crashAfterWrites);
  const client = await KubeClient.fromKubeConfig(kubeConfig, (method, path, ok) => {
    metrics.apiRequests.inc({ method, result: ok ? "success" : "failure" });
    countWrite(method, path, ok);
  });

  const rollouts = createInformer<RolloutObject>({
    kubeConfig,
    path: scoped(namespace, `/apis/${GROUP}/${VERSION}`, PLURAL),
    transform: rolloutObject,
    logger: logger.child({ informer: "rollouts" }),
  });
  const apps: Apps = new Apps({
    deployment: (ns, name) => deployments.get(ns, name),
    rollout: (ns, name) => rollouts.get(ns, name),
  });
  const keyOf = (ns: string | undefined, name: string) => `${ns ?? ""}/${name}`;
  const isTarget = (raw: unknown): boolean => {
    const m = (raw as { metadata?: { namespace?: string; name?: string } }).metadata;
    return apps.isTarget(m?.namespace ?? "", m?.name ?? "");
  };
  // Deployments are the one kind Fledge cannot label (the target is the user's, untouched but
  // for replicas), so this cache keeps a slim view of each: no managedFields, and of the
  // template only its pods' labels and port names, but a target's whole.
  const deployments: Informer<DeploymentView> = createInformer<DeploymentView>({
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

  // The user's autoscalers carry no label of Fledge's, so all are watched; the view leaves out
  // the status their controller rewrites at each sync, and so the events that carry only it.
  const autoscalers = createInformer<AutoscalerView>({
    kubeConfig,
    path: scoped(namespace, "/apis/autoscaling/v2", "horizontalpodautoscalers"),
    transform: autoscalerView,
    logger: logger.child({ informer: "horizontalpodautoscalers" }),
  });

  const events = new EventRecorder(client, logger, options.identity);
  // The hooks run once the informers start, when the queue below exists. A change of a router's
  // API is rare and can end only RoutingUnavailable: the Rollouts that report it are found in
  // the cache, which holds the status each reconcile wrote.
  const traffic = trafficApis(
    { kubeConfig, client, namespace, logger },
    {
      objectChanged: (obj) => wakeOwner(obj),
      apiChanged: () => {
        for (const r of rollouts.list())
          if (specValidProblem(r) === "RoutingUnavailable")
            queue.add(keyOf(r.metadata.namespace, r.metadata.name));
      },
      reconnected: () => queue.retryFailed(),
    },
  );
  // A template's change wakes the Rollouts that name it; a kind's CRD arriving wakes those that
  // found none, which the cache shows as their status' TemplateNotFound.
  const templateUsers = new TemplateUsers();
  const autoscalerUsersOf = autoscalerUsers();
  const templates = templateCaches(
    { kubeConfig, client, namespace, logger },
    {
      templateChanged: (t) => {
        for (const key of templateUsers.of(t)) queue.add(key);
      },
      apiChanged: () => {
        for (const r of rollouts.list())
          if (specValidProblem(r) === "TemplateNotFound")
            queue.add(keyOf(r.metadata.namespace, r.metadata.name));
      },
      reconnected: () => queue.retryFailed(),
    },
  );
  const reconciler = new Reconciler({
    client,
    rollouts,
    deployments,
    services,
    autoscalers,
    apps,
    routers: traffic.routers,
    templates: templates.catalog,
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
    historyLimit: options.historyLimit,
  });

  // The Rollouts in the cache when the workers start, until each has had its first reconcile:
  // the log says when the last one has (start-up's end, which the benchmark times).
  const unreconciled = new Set<string>();
  let leadingSince = 0;
  const firstReconciled = (key: string) => {
    if (!unreconciled.delete(key) || unreconciled.size > 0) return;
    logger.info({ ms: Date.now() - leadingSince }, "every Rollout reconciled once since start");
  };
  const LEASE_GROUP = "fledge-controller";
  const sharding: ShardOwnership | undefined =
    options.shards !== undefined && options.leaseNamespace !== undefined
      ? shardOwnership({
          kubeConfig,
          leaseNamespace: options.leaseNamespace,
          group: LEASE_GROUP,
          identity: options.identity,
          shards: options.shards,
          timing: options.shardLeaseTiming,
          rollouts,
          queue: (): WorkQueue => queue,
          metrics,
          logger,
        })
      : undefined;

  const queue: WorkQueue = new WorkQueue({
    workers: options.workers,
    accepts: sharding?.accepts,
    logger: logger.child({ subsystem: "workqueue" }),
    logFields: (key) => {
      const [namespace, name] = key.split("/");
      return { namespace, name };
    },
    handler: async (key) => {
      const fence = sharding?.fenceOf(key);
      // Its shard went between the hand-out and now: the new holder has the key.
      if (sharding && !fence) return {};
      const end = metrics.reconcileDuration.startTimer();
      try {
        return await underFence(fence, () => reconciler.reconcile(key));
      } catch (e) {
        // Fenced off mid-reconcile: what it left unwritten is the shard's new holder's to do.
        if (fence && !fence.holds()) return {};
        metrics.reconcileErrors.inc();
        throw e;
      } finally {
        end();
        firstReconciled(key);
        metrics.queueDepth.set(queue.depth);
      }
    },
  });

  // A change wakes the Rollouts whose judgement it may change, found through the index, so a
  // problem clears on the event that ends its cause, with no periodic look.
  rollouts.onEvent((type, r, old) => {
    templateUsers.rolloutChanged(type, r);
    autoscalerUsersOf.rolloutChanged(type, r);
    for (const key of apps.rolloutChanged(type, r, old)) queue.add(key);
    if (type === "DELETED") metrics.forget(r.metadata.namespace, r.metadata.name);
    else queue.add(keyOf(r.metadata.namespace, r.metadata.name));
  });
  const wakeOwner = (obj: {
    metadata: { namespace?: string; labels?: Record<string, string> };
  }) => {
    const owner = obj.metadata.labels?.[LABELS.rollout];
    if (owner) queue.add(keyOf(obj.metadata.namespace, owner));
  };
  deployments.onEvent((type, d, old) => {
    wakeOwner(d);
    for (const key of apps.deploymentChanged(type, d, old)) queue.add(key);
  });
  services.onEvent((_type, s) => wakeOwner(s));
  // A user's autoscaler wakes the Rollouts naming it (its policy is copied, its target judged);
  // the primary's wakes its owner, which repairs a hand edit.
  autoscalers.onEvent((_type, a) => {
    wakeOwner(a);
    for (const key of autoscalerUsersOf.of(keyOf(a.metadata.namespace, a.metadata.name)))
      queue.add(key);
  });

  let leading = false;
  const caches = (): Informer<{ metadata: { name: string } }>[] => [
    deployments,
    services,
    rollouts,
    autoscalers,
    ...traffic.informers(),
    ...templates.informers(),
  ];
  // Watches resumed after an outage bring no event when nothing changed, and a reconcile that
  // failed meanwhile would wait out a backoff grown to many seconds: a watch open again says the
  // apiserver answers, so those are retried now.
  for (const cache of [deployments, services, rollouts, autoscalers])
    cache.onReconnect(() => queue.retryFailed());
  metrics.watchInformers(caches);
  const lead = async () => {
    await Promise.all([deployments, services, rollouts, autoscalers].map((c) => c.start()));
    await Promise.all([traffic.start(), templates.start()]);
    // A sharded replica reconciles only its shards' Rollouts: each shard taken says so instead.
    if (!sharding)
      for (const r of rollouts.list())
        unreconciled.add(keyOf(r.metadata.namespace, r.metadata.name));
    leadingSince = Date.now();
    queue.start();
    leading = true;
    logger.info(
      { workers: options.workers, rollouts: unreconciled.size },
      "leading: caches synced, workers started",
    );
  };

  const server =
    options.metricsPort === undefined
      ? undefined
      : http.createServer(async (req, res) => {
          if (req.url === "/healthz") return res.writeHead(200).end("ok");
          if (req.url === "/readyz") {
            // A standby replica is ready: it is healthy and waiting for the lease.
            const standby = options.leaseNamespace !== undefined && !sharding && !leading;
            if (standby) return res.writeHead(200).end("ok");
            if (!leading || !caches().every((c) => c.synced))
              return res.writeHead(503).end("caches not synced");
            // synced stays true after the first list: a cache that cannot resync is stale, and
            // the Rollouts it feeds act on what it last saw.
            const failing = caches().filter((c) => c.health.failing);
            if (failing.length === 0) return res.writeHead(200).end("ok");
            const now = Date.now();
            return res.writeHead(503).end(
              `informers failing to list and watch:\n${failing
                .map(({ resource, health: h }) => {
                  const s = Math.round((now - (h.failingSince ?? now)) / 1000);
                  return `${resource}: ${h.kind} for ${s} s: ${h.reason}`;
                })
                .join("\n")}\n`,
            );
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

  // Shards are taken once the caches are synced, so a shard's keys are acted on at once.
  const election =
    options.leaseNamespace && !sharding
      ? startLeaderElection({
          kubeConfig,
          namespace: options.leaseNamespace,
          name: LEASE_GROUP,
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
  await sharding?.start();

  return {
    port,
    metrics,
    async stop() {
      await queue.shutdown();
      await events.flush();
      await sharding?.stop();
      await Promise.all(caches().map((c) => c.stop()));
      await election?.stop();
      await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    },
  };
}
