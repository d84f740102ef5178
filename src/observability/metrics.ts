import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { PHASES } from "../api/rollout.ts";
import { FAILURE_KINDS, type InformerHealth } from "../kube/informer-health.ts";

/** What the metrics read of an informer at each scrape. */
export type WatchedInformer = { readonly resource: string; readonly health: InformerHealth };

/** The controller's Prometheus metrics, named by Prometheus conventions (fledge_ prefix, base units). */
export class ControllerMetrics {
  readonly registry = new Registry();
  readonly phase = new Gauge({
    name: "fledge_rollout_phase",
    help: "1 for the phase each Rollout is in, 0 for the others.",
    labelNames: ["namespace", "name", "phase"],
    registers: [this.registry],
  });
  readonly canaryWeight = new Gauge({
    name: "fledge_rollout_canary_weight_percent",
    help: "The canary's share of traffic the controller wants.",
    labelNames: ["namespace", "name"],
    registers: [this.registry],
  });
  readonly checks = new Counter({
    name: "fledge_analysis_checks_total",
    help: "Metric checks by outcome: passed, failed, errored, inconclusive.",
    labelNames: ["namespace", "name", "metric", "outcome"],
    registers: [this.registry],
  });
  readonly reconcileDuration = new Histogram({
    name: "fledge_reconcile_duration_seconds",
    help: "How long one reconcile took.",
    buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
    registers: [this.registry],
  });
  readonly reconcileErrors = new Counter({
    name: "fledge_reconcile_errors_total",
    help: "Reconciles that failed and were retried.",
    registers: [this.registry],
  });
  readonly queueDepth = new Gauge({
    name: "fledge_workqueue_depth",
    help: "Rollout keys waiting for a worker.",
    registers: [this.registry],
  });
  readonly apiRequests = new Counter({
    name: "fledge_apiserver_requests_total",
    help: "Requests the reconciler made to kube-apiserver (lists and watches aside), by method and result.",
    labelNames: ["method", "result"],
    registers: [this.registry],
  });

  readonly shardsHeld = new Gauge({
    name: "fledge_shards_held",
    help: "Shards whose Lease this replica holds and whose Rollouts it reconciles (with --shards).",
    registers: [this.registry],
  });

  readonly shardsLost = new Counter({
    name: "fledge_shards_lost_total",
    help: "Shard Leases lost without being handed back (renewals unanswered to the deadline); each shard's reconciles were fenced off and it was free to be taken again.",
    registers: [this.registry],
  });

  private informers: () => readonly WatchedInformer[] = () => [];
  // What each informer's totals were at the last scrape, so the counter grows by the difference.
  private readonly counted = new WeakMap<WatchedInformer, Readonly<Record<string, number>>>();
  readonly informerSynced = this.informerGauge(
    "fledge_informer_synced",
    "1 while an informer's cache is synced and its lists and watches work, 0 before its first list and while they have failed past the threshold (10 s).",
    (hs) => (hs.every((h) => h.synced && !h.failing) ? 1 : 0),
  );
  readonly informerFailingSeconds = this.informerGauge(
    "fledge_informer_failing_seconds",
    "How long an informer's lists and watches have been failing without a working watch; 0 while they work.",
    (hs, now) => (now - Math.min(...hs.map((h) => h.failingSince ?? now))) / 1000,
  );
  readonly informerFailures = new Counter({
    name: "fledge_informer_failures_total",
    help: "Failed lists and watches of each informer, by kind of failure (unreachable, forbidden, throttled, too-large-resource-version, timeout, server-error, client-error, bad-answer).",
    labelNames: ["resource", "reason"],
    registers: [this.registry],
    collect: () => {
      for (const informer of this.informers()) {
        const { totals } = informer.health;
        const before = this.counted.get(informer);
        for (const reason of FAILURE_KINDS) {
          const grown = totals[reason] - (before?.[reason] ?? 0);
          if (grown > 0) this.informerFailures.inc({ resource: informer.resource, reason }, grown);
        }
        this.counted.set(informer, totals);
      }
    },
  });

  /** The informers whose health the informer metrics show, read at each scrape. */
  watchInformers(informers: () => readonly WatchedInformer[]): void {
    this.informers = informers;
  }

  /** A gauge by informer resource, its value read from their health at each scrape. */
  private informerGauge(
    name: string,
    help: string,
    value: (health: InformerHealth[], now: number) => number,
  ): Gauge {
    const gauge: Gauge = new Gauge({
      name,
      help,
      labelNames: ["resource"],
      registers: [this.registry],
      collect: () => {
        gauge.reset();
        const now = Date.now();
        for (const [resource, hs] of this.byResource()) gauge.set({ resource }, value(hs, now));
      },
    });
    return gauge;
  }

  private byResource(): Map<string, InformerHealth[]> {
    const grouped = new Map<string, InformerHealth[]>();
    for (const i of this.informers())
      grouped.set(i.resource, [...(grouped.get(i.resource) ?? []), i.health]);
    return grouped;
  }

  setPhase(namespace: string, name: string, phase: string): void {
    for (const p of PHASES) this.phase.set({ namespace, name, phase: p }, p === phase ? 1 : 0);
  }

  forget(namespace: string, name: string): void {
    for (const p of PHASES) this.phase.remove({ namespace, name, phase: p });
    this.canaryWeight.remove({ namespace, name });
  }
}
