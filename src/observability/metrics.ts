import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { PHASES } from "../api/rollout.ts";

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

  setPhase(namespace: string, name: string, phase: string): void {
    for (const p of PHASES) this.phase.set({ namespace, name, phase: p }, p === phase ? 1 : 0);
  }

  forget(namespace: string, name: string): void {
    for (const p of PHASES) this.phase.remove({ namespace, name, phase: p });
    this.canaryWeight.remove({ namespace, name });
  }
}
