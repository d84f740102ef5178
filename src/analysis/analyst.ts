import type { Condition } from "../api/common.ts";
import type { RolloutSpec, WEBHOOK_TYPES } from "../api/rollout.ts";
import type { CheckResult, GateName, Notice, RolloutEvent } from "../machine/context.ts";

/** What a check or a gate is about: enough for providers to build queries and webhook payloads. */
export type AnalysisSubject = {
  namespace: string;
  name: string;
  target: string;
  canaryService: string;
  spec: RolloutSpec;
  phase: string;
  stepIndex: number;
  canaryWeight: number;
  /** For checks: the share mirrored to the canary, and how long the route has shown both. */
  mirrorPercent?: number;
  weightHeldMs?: number | undefined;
};

/** A gate either passed, was refused (a non-2xx answer), or could not be asked at all. */
export type GateOutcome = { outcome: "passed" | "failed" | "errored"; message?: string };

/** Whether the analysis can work as configured; the reconciler shows it as a condition. */
export type Readiness = { status: Condition["status"]; reason: string; message: string };

/** Webhooks told of something after the fact: their answer changes nothing. */
export type Notification =
  | { type: Extract<(typeof WEBHOOK_TYPES)[number], "post-rollout" | "rollback"> }
  | { type: "event"; notice: Notice };

/** Reads the metrics and calls the webhooks; every failure to read is a result with a reason, not a throw. */
export interface Analyst {
  check(subject: AnalysisSubject): Promise<CheckResult[]>;
  gate(subject: AnalysisSubject, gate: GateName): Promise<GateOutcome>;
  /** Undefined when the rollout has no metrics to be ready for. */
  readiness(subject: AnalysisSubject): Promise<Readiness | undefined>;
  notify(subject: AnalysisSubject, notification: Notification): Promise<void>;
}

/** A gate's outcome as the machine hears it: an unreachable webhook holds the gate without failing it. */
export const gateEvent = (gate: GateName, o: GateOutcome, now: number): RolloutEvent => ({
  type: "GATE",
  gate,
  passed: o.outcome === "passed",
  errored: o.outcome === "errored",
  message: o.message,
  now,
});
