import type { AnalysisSubject, Analyst, Notification } from "../analysis/analyst.ts";
import { serviceNames } from "../api/names.ts";
import type { RolloutSpec, RolloutStatus } from "../api/rollout.ts";
import type { KubeClient } from "../kube/client.ts";
import type { Notice } from "../machine/context.ts";
import type { Stage } from "../machine/view.ts";
import { coalesce, type EventRecorder, type EventSubject } from "../observability/events.ts";
import { forRollout, type Logger } from "../observability/logger.ts";
import type { HistoryChange } from "./history.ts";
import type { ReconcileResult } from "./queue.ts";
import type { Problem } from "./resume.ts";
import { type RolloutObject, rolloutObject } from "./rollout-object.ts";
import { type ConditionInput, statusDiffers, withTransitionTimes } from "./status.ts";
import type { Store } from "./store.ts";
import { Conflict, Refused, rolloutPath, written } from "./writes.ts";

/** What providers and webhooks are told about a rollout: which it is and where it stands. */
export function analysisSubject(
  rollout: RolloutObject,
  spec: RolloutSpec,
  at: Pick<
    AnalysisSubject,
    "phase" | "stepIndex" | "canaryWeight" | "mirrorPercent" | "weightHeldMs"
  >,
): AnalysisSubject {
  const { namespace, name } = rollout.metadata;
  return {
    namespace,
    name,
    target: spec.targetRef.name,
    canaryService: serviceNames(spec).canaryService,
    spec,
    ...at,
  };
}

const IN_ROLLOUT = new Set<Stage>(["progressing", "promoting", "rollingBack"]);
const ROLLED_BACK = new Set<Stage>(["rollingBack", "failed", "aborted"]);

/**
 * Which outcome webhooks a reconcile that moved the machine from `before` to `after` owes: rollback
 * when a rollback began, post-rollout when a rollout ended (promoted, failed or aborted).
 * Only the reconcile that made the move sees it, so each is told once.
 */
export function outcomeNotifications(before: Stage, after: Stage): Notification[] {
  const out: Notification[] = [];
  if (ROLLED_BACK.has(after) && !ROLLED_BACK.has(before)) out.push({ type: "rollback" });
  if (IN_ROLLOUT.has(before) && !IN_ROLLOUT.has(after)) out.push({ type: "post-rollout" });
  return out;
}

/** The condition a router's verdict on its route is reported under. */
export const ROUTE_CONDITION = "TrafficRouted";

/**
 * A condition turning False is news once: when it first says so, or gives another reason (a
 * route's parents turning it down, the mesh not moving the weight), not each time its message
 * changes.
 */
export function falseConditionNotices(
  type: string,
  before: RolloutStatus | undefined,
  after: RolloutStatus | undefined,
): Notice[] {
  const conditionIn = (s: RolloutStatus | undefined) => s?.conditions?.find((c) => c.type === type);
  const now = conditionIn(after);
  const then = conditionIn(before);
  if (now?.status !== "False" || (then?.status === "False" && then.reason === now.reason))
    return [];
  return [{ type: "Warning", reason: now.reason, message: now.message }];
}

/** The condition a problem turns False. */
const problemCondition = (problem: Problem): ConditionInput => ({
  type: problem.type ?? "SpecValid",
  status: "False",
  reason: problem.reason,
  message: problem.message,
});

/** A status whose condition of the problem's type is False for it, and whose message says so. */
function withProblem(
  status: RolloutStatus,
  previous: RolloutStatus | undefined,
  problem: Problem,
  now: number,
  rollout: RolloutObject,
): RolloutStatus {
  const condition = problemCondition(problem);
  const { type } = condition;
  return {
    ...status,
    observedGeneration: rollout.metadata.generation,
    message: problem.message,
    conditions: [
      ...(status.conditions ?? []).filter((c) => c.type !== type),
      ...withTransitionTimes(
        previous?.conditions,
        [condition],
        new Date(now).toISOString(),
        rollout.metadata.generation,
      ),
    ],
  };
}

export type RecorderDeps = {
  client: KubeClient;
  rollouts: Store<RolloutObject>;
  analyst: Analyst;
  events: EventRecorder;
  logger: Logger;
  now: () => number;
};

/** What a reconcile leaves for people to read: the Rollout's status, its Events, the webhooks told. */
export class Recorder {
  private readonly deps: RecorderDeps;

  constructor(deps: RecorderDeps) {
    this.deps = deps;
  }

  /**
   * A problem the controller found: its condition turns False with the reason, the phase's
   * message says it, an Event tells it once (again only when it changes), and nothing moves.
   */
  async report(
    rollout: RolloutObject,
    problem: Problem,
    log: Logger,
    now: number,
    spec?: RolloutSpec,
  ): Promise<ReconcileResult> {
    const previous = rollout.status as RolloutStatus | undefined;
    const { type } = problemCondition(problem);
    const before = previous?.conditions?.find((c) => c.type === type);
    const next = withProblem(previous ?? {}, previous, problem, now, rollout);
    const stored = await this.writeStatus(rollout, next);
    if (
      stored !== rollout &&
      (before?.status !== "False" ||
        before.reason !== problem.reason ||
        before.message !== problem.message)
    ) {
      log.warn({ reason: problem.reason }, problem.message);
      const notice: Notice = { type: "Warning", reason: problem.reason, message: problem.message };
      this.deps.events.record(rollout.metadata, notice);
      // A spec the controller cannot read has no webhooks it could trust.
      if (spec) {
        const at = {
          phase: previous?.phase ?? "Initializing",
          stepIndex: previous?.currentStepIndex ?? 0,
          canaryWeight: previous?.canaryWeight ?? 0,
        };
        const subject = analysisSubject(rollout, spec, at);
        void this.deps.analyst.notify(subject, { type: "event", notice });
      }
    }
    return {};
  }

  /**
   * A refused write, on the Rollout as our last write left it: Ready False with the resource and
   * the apiserver's words, until a reconcile's writes all go through. When status itself is what
   * is refused, the Event and the log are all that can tell it.
   */
  async refused(namespace: string, name: string, refusal: Refused): Promise<void> {
    const log = forRollout(this.deps.logger, namespace, name);
    const rollout = this.deps.rollouts.get(namespace, name);
    if (!rollout) return;
    const problem: Problem = { type: "Ready", reason: "WriteRefused", message: refusal.message };
    try {
      await this.report(rollout, problem, log, this.deps.now());
    } catch (e) {
      if (!(e instanceof Refused || e instanceof Conflict)) throw e;
      log.error({ reason: problem.reason }, refusal.message);
      this.deps.events.record(rollout.metadata, {
        type: "Warning",
        reason: problem.reason,
        message: problem.message,
      });
    }
  }

  /**
   * Writes status when it differs, the history extended by `history`; the Rollout as written, or
   * the one given when nothing was. A JSON patch on the version the cache holds: it sets every
   * field of status but the history, which it only appends to and trims, so the cache need not
   * keep the history to write it whole; the resourceVersion makes it conflict as a replace would.
   */
  async writeStatus(
    rollout: RolloutObject,
    status: RolloutStatus,
    history: HistoryChange = { drop: 0 },
  ): Promise<RolloutObject> {
    if (!statusDiffers(rollout.status as RolloutStatus | undefined, status)) return rollout;
    const { namespace, name } = rollout.metadata;
    const stored = written(
      await this.deps.client.patch(
        `${rolloutPath(namespace, name)}/status`,
        statusPatch(rollout, status, history),
        "json",
      ),
      `status of Rollout ${namespace}/${name}`,
    );
    this.deps.rollouts.remember(stored);
    return rolloutObject(stored) ?? rollout;
  }

  /**
   * Tells what a reconcile decided, once its status is written: each notice in the log, the
   * Events (coalesced) and their webhooks beside the reconcile, then the outcome notifications,
   * after the status that records the move, so a conflict retries before anyone is told.
   */
  async announce(
    owner: EventSubject,
    notices: Notice[],
    subject: AnalysisSubject,
    notifications: Notification[],
    log: Logger,
  ): Promise<void> {
    for (const notice of notices) {
      (notice.type === "Warning" ? log.warn : log.info).call(
        log,
        { reason: notice.reason, phase: subject.phase },
        notice.message,
      );
    }
    for (const notice of coalesce(notices)) {
      this.deps.events.record(owner, notice);
      void this.deps.analyst.notify(subject, { type: "event", notice });
    }
    for (const notification of notifications) await this.deps.analyst.notify(subject, notification);
  }
}

type Operation =
  | { op: "add" | "replace"; path: string; value: unknown }
  | { op: "remove"; path: string };

/** The JSON patch (RFC 6902) that takes the Rollout's status to `status` and its history on. */
export function statusPatch(
  rollout: RolloutObject,
  status: RolloutStatus,
  history: HistoryChange,
): Operation[] {
  const precondition: Operation = {
    op: "replace",
    path: "/metadata/resourceVersion",
    value: rollout.metadata.resourceVersion,
  };
  const fields = Object.entries(status).filter(([k, v]) => k !== "history" && v !== undefined);
  const whole = history.append ? [history.append] : [];
  if (rollout.status === undefined)
    return [
      precondition,
      { op: "add", path: "/status", value: { ...Object.fromEntries(fields), history: whole } },
    ];
  const ops: Operation[] = [precondition];
  for (const [key, value] of fields) ops.push({ op: "add", path: `/status/${key}`, value });
  const kept = new Set(fields.map(([k]) => k));
  for (const key of Object.keys(rollout.status))
    if (!kept.has(key)) ops.push({ op: "remove", path: `/status/${key}` });
  if (!history.append) return ops;
  if (rollout.history.length <= history.drop)
    return [...ops, { op: "add", path: "/status/history", value: whole }];
  for (let i = 0; i < history.drop; i++) ops.push({ op: "remove", path: "/status/history/0" });
  return [...ops, { op: "add", path: "/status/history/-", value: history.append }];
}
