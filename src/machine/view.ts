import type { Condition } from "../api/common.ts";
import type { Phase, RolloutStatus } from "../api/rollout.ts";
import {
  type Context,
  type GateName,
  type Pause,
  retirementAt,
  trafficInEffect,
} from "./context.ts";
import { stepText } from "./plan.ts";
import type { RolloutSnapshot } from "./snapshot.ts";

/** Where the machine rests, in the statechart's own top-level names. */
export type Stage =
  | "initializing"
  | "healthy"
  | "progressing"
  | "promoting"
  | "rollingBack"
  | "failed"
  | "aborted";

export function stageOf(snapshot: RolloutSnapshot): Stage {
  const value = snapshot.value;
  return (typeof value === "string" ? value : Object.keys(value)[0]) as Stage;
}

const SUBSTATE = (snapshot: RolloutSnapshot): string | undefined => {
  const value = snapshot.value;
  return typeof value === "string" ? undefined : (Object.values(value)[0] as string);
};

const PHASE: Record<Stage, Phase> = {
  initializing: "Initializing",
  healthy: "Healthy",
  progressing: "Progressing",
  promoting: "Promoting",
  rollingBack: "RollingBack",
  failed: "Failed",
  aborted: "Aborted",
};

export function phaseOf(snapshot: RolloutSnapshot): Phase {
  const stage = stageOf(snapshot);
  if (stage === "progressing" && snapshot.context.pauses.length > 0) return "Paused";
  return PHASE[stage];
}

/** What the cluster should look like for this snapshot; the reconciler makes it so. */
export type Desired = {
  /** The revision the primary Deployment should run. */
  primaryRevision: string | undefined;
  /** Whether the TrafficSplit should exist yet (not before the primary first serves). */
  routed: boolean;
  canaryWeight: number;
  primaryWeight: number;
  mirrorPercent: number;
  /** Whether the canary (the target Deployment) should run at all. */
  canaryScaledUp: boolean;
};

export function desiredOf(snapshot: RolloutSnapshot): Desired {
  const stage = stageOf(snapshot);
  const c = snapshot.context;
  const idle = stage === "healthy" || stage === "failed" || stage === "aborted";
  // The canary keeps its pods until the split has been seen sending it nothing, so no request
  // lands on a pod that is going away.
  const canaryScaledUp = stage === "initializing" || !idle || c.trafficWeight !== 0;
  return {
    primaryRevision: stage === "promoting" ? c.canaryRevision : c.stableRevision,
    routed: stage !== "initializing",
    canaryWeight: c.canaryWeight,
    primaryWeight: 100 - c.canaryWeight,
    mirrorPercent: c.mirrorPercent,
    canaryScaledUp,
  };
}

/** Work the controller must do outside the machine before it has news to send. */
export type Due = { kind: "analysis" } | { kind: "gate"; gate: GateName };

export function dueWork(snapshot: RolloutSnapshot, now: number): Due | undefined {
  const c = snapshot.context;
  if (c.nextCheckAt === undefined || now < c.nextCheckAt || stageOf(snapshot) !== "progressing")
    return undefined;
  switch (SUBSTATE(snapshot)) {
    case "preRollout":
      return { kind: "gate", gate: "pre-rollout" };
    case "confirming":
      return { kind: "gate", gate: "confirm-promotion" };
    case "weighting":
    case "pausing":
    case "analysing":
    case "switched":
      // A check judges the weight in effect: one decided but not yet written waits for its route.
      return c.plan.checks && trafficInEffect(c) ? { kind: "analysis" } : undefined;
    default:
      return undefined;
  }
}

/**
 * The earliest event time at which a TICK could change something: a timed pause ending, a check
 * or gate falling due, a deadline passing. The controller requeues for it, so no timer lives only
 * in memory and a restarted controller knows when each rollout is due.
 */
export function wakeAt(snapshot: RolloutSnapshot): number | undefined {
  const c = snapshot.context;
  const stage = stageOf(snapshot);
  const times: number[] = [];
  for (const p of c.pauses) if (p.until !== undefined) times.push(p.until);
  if (stage === "progressing" && c.nextCheckAt !== undefined && dueWorkKinds(snapshot))
    times.push(c.nextCheckAt);
  const retiresAt = SUBSTATE(snapshot) === "switched" ? retirementAt(snapshot.context) : undefined;
  if (retiresAt !== undefined) times.push(retiresAt);
  const waitsForReady = stage === "promoting" || (stage === "progressing" && !c.canaryReady);
  if (waitsForReady && c.waitingSince !== undefined)
    times.push(c.waitingSince + c.plan.deadlineMs + 1);
  return times.length ? Math.min(...times) : undefined;
}

/** When a blue/green switch in effect has kept the old version running for the strategy's delay. */
const dueWorkKinds = (snapshot: RolloutSnapshot) =>
  dueWork(snapshot, Number.POSITIVE_INFINITY) !== undefined;

type Cond = Omit<Condition, "lastTransitionTime" | "observedGeneration">;

const PAUSE_CONDITION: Record<Pause["reason"], string> = {
  Step: "StepPause",
  Person: "PausedByPerson",
  Inconclusive: "InconclusiveAnalysis",
};

function pauseMessage(p: Pause): string {
  switch (p.reason) {
    case "Step":
      return p.until === undefined
        ? "a pause step waits for resume"
        : `a pause step holds until ${new Date(p.until).toISOString()}`;
    case "Person":
      return "paused by the fledge.dev/pause annotation";
    case "Inconclusive":
      return p.message ?? "analysis had too little data";
  }
}

const mirrored = (c: Context) =>
  c.mirrorPercent > 0 ? ` (${c.mirrorPercent}% of requests mirrored to it)` : "";

function readyCondition(stage: Stage, c: Context): Cond {
  switch (stage) {
    case "initializing":
      return {
        type: "Ready",
        status: "False",
        reason: "Initializing",
        message: `waiting for the primary to serve revision ${c.stableRevision ?? "(unknown)"}`,
      };
    case "healthy":
      return {
        type: "Ready",
        status: "True",
        reason: "Serving",
        message: `revision ${c.stableRevision} serves all traffic`,
      };
    case "progressing":
    case "promoting":
      return {
        type: "Ready",
        status: "True",
        reason: "StableServing",
        message: `stable revision ${c.stableRevision} serves ${100 - c.canaryWeight}%, canary ${c.canaryRevision} ${c.canaryWeight}%${mirrored(c)}`,
      };
    case "rollingBack":
    case "failed":
    case "aborted":
      return {
        type: "Ready",
        status: "False",
        reason: c.outcome?.reason ?? "RolledBack",
        message: c.outcome?.message ?? "rolled back",
      };
  }
}

function switchedMessage(snapshot: RolloutSnapshot): string {
  const c = snapshot.context;
  const at = retirementAt(c);
  return at === undefined
    ? `switching all traffic to revision ${c.canaryRevision}`
    : `revision ${c.canaryRevision} serves all traffic; revision ${c.stableRevision} keeps running until ${new Date(at).toISOString()}`;
}

function progressingCondition(snapshot: RolloutSnapshot, paused: boolean): Cond {
  const stage = stageOf(snapshot);
  const c = snapshot.context;
  switch (stage) {
    case "initializing":
      return {
        type: "Progressing",
        status: "True",
        reason: "Initializing",
        message: "creating the primary from the target",
      };
    case "progressing":
      if (SUBSTATE(snapshot) === "switched" && !paused)
        return {
          type: "Progressing",
          status: "True",
          reason: "Switched",
          message: switchedMessage(snapshot),
        };
      if (c.plan.strategy.kind === "blueGreen" && !paused)
        return {
          type: "Progressing",
          status: "True",
          reason: "Previewing",
          message: `revision ${c.canaryRevision} runs beside revision ${c.stableRevision} and takes no traffic from the apex; ${c.passes} preview check${c.passes === 1 ? "" : "s"} passed`,
        };
      return paused
        ? {
            type: "Progressing",
            status: "Unknown",
            reason: "Paused",
            message: `paused at step ${stepText(c.stepIndex, c.plan.steps.length)}`,
          }
        : {
            type: "Progressing",
            status: "True",
            reason: "RolloutInProgress",
            message: `step ${stepText(c.stepIndex, c.plan.steps.length)}, canary weight ${c.canaryWeight}%${mirrored(c)}`,
          };
    case "promoting":
      return {
        type: "Progressing",
        status: "True",
        reason: "Promoting",
        message: `primary is taking revision ${c.canaryRevision}`,
      };
    case "healthy":
      return {
        type: "Progressing",
        status: "False",
        reason: "Complete",
        message: `revision ${c.stableRevision} is stable`,
      };
    case "rollingBack":
      return {
        type: "Progressing",
        status: "False",
        reason: "RollingBack",
        message: c.outcome?.message ?? "rolling back",
      };
    case "failed":
    case "aborted":
      return {
        type: "Progressing",
        status: "False",
        reason: c.outcome?.reason ?? "RolledBack",
        message: `${c.outcome?.message ?? "rolled back"}; waiting for a new revision or a retry`,
      };
  }
}

/** The machine's conditions (SpecValid is the controller's); a pure function of the snapshot. */
export function conditionsOf(snapshot: RolloutSnapshot): Cond[] {
  const stage = stageOf(snapshot);
  const c = snapshot.context;
  const [first] = c.pauses;
  const paused: Cond = first
    ? {
        type: "Paused",
        status: "True",
        reason: PAUSE_CONDITION[first.reason],
        message: c.pauses.map(pauseMessage).join("; "),
      }
    : { type: "Paused", status: "False", reason: "NotPaused", message: "" };
  return [readyCondition(stage, c), progressingCondition(snapshot, first !== undefined), paused];
}

const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString());

/** The status fields that come from the machine; the reconciler adds conditions' times and SpecValid. */
export function statusOf(snapshot: RolloutSnapshot): RolloutStatus {
  const c = snapshot.context;
  const stage = stageOf(snapshot);
  const phase = phaseOf(snapshot);
  const [ready, progressing] = conditionsOf(snapshot);
  const inRollout = stage === "progressing" || stage === "promoting" || stage === "rollingBack";
  const stepIndex = inRollout ? Math.min(c.stepIndex, c.plan.steps.length) : undefined;
  return {
    phase,
    message: stage === "healthy" ? ready?.message : progressing?.message,
    stableRevision: c.stableRevision,
    canaryRevision: c.canaryRevision,
    currentStepIndex: stepIndex,
    stepCount: c.plan.steps.length,
    step: stepText(stepIndex, c.plan.steps.length),
    canaryWeight: c.canaryWeight,
    mirrorPercent: c.mirrorPercent > 0 ? c.mirrorPercent : undefined,
    failedChecks: c.failed,
    erroredChecks: c.errored,
    inconclusiveChecks: c.inconclusive,
    metrics: c.results.map((r) => ({ ...r, checkedAt: iso(c.lastCheckAt ?? c.now) as string })),
    pauseReasons: c.pauses.map((p) => ({
      reason: p.reason,
      since: iso(p.since) as string,
      until: iso(p.until),
      message: p.message,
    })),
    appliedActions: c.applied,
    nextCheckAt: iso(dueWorkKinds(snapshot) ? c.nextCheckAt : undefined),
  };
}
