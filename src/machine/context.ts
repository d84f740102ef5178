import { z } from "zod";
import {
  CheckOutcome,
  ComparedStatus,
  ONE_SHOT_ACTIONS,
  type OneShotAction,
  PAUSE_REASONS,
  TemplateSource,
} from "../api/rollout.ts";
import { Plan } from "./plan.ts";

export const CheckResult = z.object({
  name: z.string(),
  outcome: CheckOutcome,
  value: z.number().optional(),
  requests: z.number().optional(),
  /** For failures: the threshold broken; for errors: the provider's reason. */
  message: z.string().optional(),
  /** For the canary's score: each compared metric's judgement. */
  compared: z.array(ComparedStatus).optional(),
  /** The template, at its generation, the metric or webhook judged came from. */
  template: TemplateSource.optional(),
});
export type CheckResult = z.infer<typeof CheckResult>;

export const Pause = z.object({
  reason: z.enum(PAUSE_REASONS),
  since: z.number(),
  until: z.number().optional(),
  message: z.string().optional(),
});
export type Pause = z.infer<typeof Pause>;

export const ROLLBACK_ENDS = ["failed", "aborted", "healthy"] as const;

/** Why the rollout last left the happy path; the view turns it into condition reasons and messages. */
export const Outcome = z.object({ reason: z.string(), message: z.string() });
export type Outcome = z.infer<typeof Outcome>;

export const Context = z.object({
  plan: Plan,
  /** Event time of the newest event seen, in epoch milliseconds. */
  now: z.number(),
  targetRevision: z.string().optional(),
  stableRevision: z.string().optional(),
  canaryRevision: z.string().optional(),
  canaryReady: z.boolean(),
  /** The revision the primary last reported fully rolled out and ready at. */
  primaryReadyRevision: z.string().optional(),
  /** The revision the primary's template was last seen at, ready or not. */
  primaryRevision: z.string().optional(),
  /** The canary weight last observed in effect on the route. */
  trafficWeight: z.number().optional(),
  /** The share of requests last observed copied to the canary, answers dropped. */
  trafficMirror: z.number().optional(),
  /** When the route was first observed with trafficWeight and trafficMirror; status from before lacks it. */
  trafficSince: z.number().optional(),
  stepIndex: z.int().min(0),
  /** The canary weight the machine wants. */
  canaryWeight: z.int().min(0).max(100),
  /** The share of requests the machine wants copied to the canary; status from before mirroring lacks it. */
  mirrorPercent: z.int().min(0).max(100).default(0),
  stepStartedAt: z.number().optional(),
  /** When the wait for a canary or primary to become ready began, for the progress deadline. */
  waitingSince: z.number().optional(),
  nextCheckAt: z.number().optional(),
  lastCheckAt: z.number().optional(),
  failed: z.int().min(0),
  errored: z.int().min(0),
  inconclusive: z.int().min(0),
  consecutiveErrors: z.int().min(0),
  consecutiveInconclusive: z.int().min(0),
  passes: z.int().min(0),
  results: z.array(CheckResult),
  pauses: z.array(Pause),
  applied: z.partialRecord(z.enum(ONE_SHOT_ACTIONS), z.string()),
  rollbackTo: z.enum(ROLLBACK_ENDS).optional(),
  outcome: Outcome.optional(),
  promotedBy: z.enum(["steps", "person"]).optional(),
});
export type Context = z.infer<typeof Context>;

export type GateName = "pre-rollout" | "confirm-promotion";

type Timed = { now: number };
type ActionEvent<T extends string> = Timed & { type: T; id: string };

/** Everything that happens to a rollout reaches the machine as one of these, time included. */
export type RolloutEvent =
  | (Timed & { type: "TICK" })
  | (Timed & { type: "SPEC"; plan: Plan })
  | (Timed & { type: "TARGET"; revision: string })
  | (Timed & { type: "CANARY"; revision: string; ready: boolean })
  | (Timed & { type: "PRIMARY"; revision: string; ready: boolean })
  | (Timed & { type: "TRAFFIC"; canaryWeight: number; mirrorPercent?: number })
  | (Timed & { type: "ANALYSIS"; results: CheckResult[] })
  /** errored: the gate's webhooks could not be asked, which holds the gate without failing it. */
  | (Timed & { type: "GATE"; gate: GateName; passed: boolean; errored?: boolean; message?: string })
  | (Timed & { type: "PAUSE"; paused: boolean })
  | ActionEvent<"RESUME">
  | ActionEvent<"PROMOTE">
  | ActionEvent<"PROMOTE_FULL">
  | ActionEvent<"ABORT">
  | ActionEvent<"RETRY">;

/** An event before its time is stamped on: what tests and benchmarks write. */
export type UntimedEvent = RolloutEvent extends infer E
  ? E extends RolloutEvent
    ? Omit<E, "now">
    : never
  : never;

export const ACTION_EVENTS = {
  RESUME: "resume",
  PROMOTE: "promote",
  PROMOTE_FULL: "promoteFull",
  ABORT: "abort",
  RETRY: "retry",
} as const satisfies Record<string, OneShotAction>;

/** A Kubernetes Event the machine asks for: every decision has its own CamelCase reason. */
export type Notice = { type: "Normal" | "Warning"; reason: string; message: string };

/** Where every rollout starts counting from: step 1, no traffic, no checks yet. */
export const FRESH_ROLLOUT = {
  canaryReady: false,
  stepIndex: 0,
  canaryWeight: 0,
  mirrorPercent: 0,
  stepStartedAt: undefined,
  nextCheckAt: undefined,
  failed: 0,
  errored: 0,
  inconclusive: 0,
  consecutiveErrors: 0,
  consecutiveInconclusive: 0,
  passes: 0,
  results: [],
  rollbackTo: undefined,
  outcome: undefined,
  promotedBy: undefined,
} satisfies Partial<Context>;

export function initialContext(plan: Plan, now: number): Context {
  return { plan, now, ...FRESH_ROLLOUT, pauses: [], applied: {} };
}

const SEVERITY: Record<z.infer<typeof CheckOutcome>, number> = {
  passed: 0,
  inconclusive: 1,
  errored: 2,
  failed: 3,
};

/** A check is as bad as its worst metric: one failure fails it, one unreadable metric errors it. */
export function checkOutcome(results: readonly CheckResult[]): z.infer<typeof CheckOutcome> {
  let worst: z.infer<typeof CheckOutcome> = results.length === 0 ? "inconclusive" : "passed";
  for (const r of results) if (SEVERITY[r.outcome] > SEVERITY[worst]) worst = r.outcome;
  return worst;
}

export function describeResults(
  results: readonly CheckResult[],
  outcome: CheckResult["outcome"],
): string {
  return results
    .filter((r) => r.outcome === outcome)
    .map((r) => (r.message ? `${r.name}: ${r.message}` : r.name))
    .join("; ");
}

/** Whether the route shows what the machine wants of it: the canary's weight and its mirrored share. */
export const trafficInEffect = (c: Context) =>
  c.trafficWeight === c.canaryWeight && (c.trafficMirror ?? 0) === c.mirrorPercent;

/** When a switched blue/green rollout's old version retires: the switch in effect plus the delay. */
export function retirementAt(c: Context): number | undefined {
  if (c.plan.strategy.kind !== "blueGreen") return undefined;
  if (!trafficInEffect(c) || c.trafficSince === undefined) return undefined;
  return c.trafficSince + c.plan.strategy.scaleDownDelayMs;
}

export const withoutPause = (pauses: Pause[], reason: Pause["reason"]) =>
  pauses.filter((p) => p.reason !== reason);

export const hasPause = (pauses: Pause[], reason: Pause["reason"]) =>
  pauses.some((p) => p.reason === reason);

/**
 * The bookkeeping every event brings regardless of state: the clock, what was observed, and the
 * one-shot action ids (recorded even when the action does nothing here, so each is applied once).
 */
export function observe(context: Context, event: RolloutEvent): Context {
  const now = Math.max(context.now, event.now);
  const next: Context = { ...context, now };
  switch (event.type) {
    case "TARGET":
      next.targetRevision = event.revision;
      break;
    case "CANARY":
      if (event.revision === context.canaryRevision && event.ready !== context.canaryReady) {
        next.canaryReady = event.ready;
        next.waitingSince = event.ready ? undefined : now;
      }
      break;
    case "PRIMARY":
      // One Deployment, one revision: a primary moving to a revision is ready at none until done.
      next.primaryReadyRevision = event.ready ? event.revision : undefined;
      next.primaryRevision = event.revision;
      break;
    case "TRAFFIC":
      if (
        event.canaryWeight !== context.trafficWeight ||
        (event.mirrorPercent ?? 0) !== (context.trafficMirror ?? 0)
      )
        next.trafficSince = now;
      next.trafficWeight = event.canaryWeight;
      next.trafficMirror = event.mirrorPercent ?? 0;
      break;
    case "PAUSE":
      if (event.paused && !hasPause(context.pauses, "Person")) {
        next.pauses = [...context.pauses, { reason: "Person", since: now }];
      } else if (!event.paused && hasPause(context.pauses, "Person")) {
        next.pauses = withoutPause(context.pauses, "Person");
      }
      break;
    case "TICK":
      next.pauses = context.pauses.filter((p) => p.until === undefined || p.until > now);
      break;
    case "RESUME":
    case "PROMOTE":
    case "PROMOTE_FULL":
    case "ABORT":
    case "RETRY":
      next.applied = { ...context.applied, [ACTION_EVENTS[event.type]]: event.id };
      break;
  }
  return next;
}

/** Counts a finished check; the machine's guards decide what the counts mean. */
export function recordCheck(context: Context, results: CheckResult[], now: number): Context {
  const outcome = checkOutcome(results);
  const { plan } = context;
  const heldForWindow =
    context.stepStartedAt === undefined || now - context.stepStartedAt >= plan.intervalMs;
  const next: Context = {
    ...context,
    results,
    lastCheckAt: now,
    nextCheckAt: now + plan.intervalMs,
    consecutiveErrors: outcome === "errored" ? context.consecutiveErrors + 1 : 0,
    consecutiveInconclusive: outcome === "inconclusive" ? context.consecutiveInconclusive + 1 : 0,
    failed: context.failed + (outcome === "failed" ? 1 : 0),
    errored: context.errored + (outcome === "errored" ? 1 : 0),
    inconclusive: context.inconclusive + (outcome === "inconclusive" ? 1 : 0),
    passes: outcome === "passed" ? context.passes + (heldForWindow ? 1 : 0) : 0,
  };
  if (outcome === "passed") {
    next.pauses = withoutPause(context.pauses, "Inconclusive");
  } else if (
    outcome === "inconclusive" &&
    next.consecutiveInconclusive >= plan.inconclusiveLimit &&
    !hasPause(context.pauses, "Inconclusive")
  ) {
    next.pauses = [
      ...context.pauses,
      {
        reason: "Inconclusive",
        since: now,
        message: `${next.consecutiveInconclusive} checks in a row had too little data: ${describeResults(results, "inconclusive")}`,
      },
    ];
  }
  return next;
}
