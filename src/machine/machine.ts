import { and, assign, emit, not, setup } from "xstate";
import {
  type Context,
  checkOutcome,
  describeResults,
  FRESH_ROLLOUT,
  initialContext,
  type Notice,
  type Outcome,
  observe,
  type ROLLBACK_ENDS,
  type RolloutEvent,
  recordCheck,
  retirementAt,
  trafficInEffect,
  withoutPause,
} from "./context.ts";
import { type Plan, type PlanStep, stepText } from "./plan.ts";

export type MachineInput = { plan: Plan; now: number };

type Ev<T extends RolloutEvent["type"]> = Extract<RolloutEvent, { type: T }>;
type Args = { context: Context; event: RolloutEvent };

const currentStep = (c: Context): PlanStep | undefined => c.plan.steps[c.stepIndex];
const isNewRevision = (c: Context, revision: string) =>
  revision !== c.canaryRevision && revision !== c.stableRevision;
const analysisOf = (event: RolloutEvent) => (event as Ev<"ANALYSIS">).results;
const scaleDownDelayS = (c: Context) =>
  c.plan.strategy.kind === "blueGreen" ? c.plan.strategy.scaleDownDelayMs / 1000 : 0;
const stepLabel = (c: Context) => `step ${stepText(c.stepIndex, c.plan.steps.length)}`;

function describeStep(step: PlanStep): string {
  switch (step.kind) {
    case "setWeight":
      return `canary weight ${step.weight}%`;
    case "setMirror":
      return `${step.percent}% of requests mirrored to the canary`;
    case "pause":
      return step.durationMs === undefined
        ? "pause until resumed"
        : `pause ${step.durationMs / 1000}s`;
    case "analysis":
      return `hold for ${step.passes} passing check${step.passes === 1 ? "" : "s"}`;
  }
}

const notice = (type: Notice["type"], reason: string, message: (a: Args) => string) => ({
  type: "notify" as const,
  params: (a: Args): Notice => ({ type, reason, message: message(a) }),
});

const outcome = (reason: string, message: (a: Args) => string) => ({
  type: "setOutcome" as const,
  params: (a: Args): Outcome => ({ reason, message: message(a) }),
});

type RollbackEnd = (typeof ROLLBACK_ENDS)[number];

/** What a rollback must say: the metrics that broke their thresholds, or the deadline, or the person. */
const failureMessage = ({ context, event }: Args) =>
  `${context.failed + 1} failed checks reached failureLimit ${context.plan.failureLimit}: ${describeResults(analysisOf(event), "failed")}`;
const errorMessage = ({ context, event }: Args) =>
  `${context.consecutiveErrors + 1} checks in a row could not read metrics (errorLimit ${context.plan.errorLimit}): ${describeResults(analysisOf(event), "errored")}`;

/** A gate whose webhooks could not be asked holds and asks again; silence is not a refusal. */
const gateErrored = (gate: Ev<"GATE">["gate"]) =>
  ({
    guard: { type: "gateErrored", params: gate },
    actions: [
      "observe",
      "gateFailed",
      notice(
        "Warning",
        "GateErrored",
        ({ event }) =>
          `${gate} webhook could not be called, asking again: ${(event as Ev<"GATE">).message ?? "no reason given"}`,
      ),
    ],
  }) as const;

/** A person's promote, recorded as theirs, and where it takes the rollout. */
const promotionRequested = <T extends string>(target: T, message: (a: Args) => string) =>
  ({
    target,
    actions: ["observe", "byPerson", notice("Normal", "PromotionRequested", message)],
  }) as const;

/** A new revision on the target starts a rollout from step 1 against the stable revision. */
const startOnNewRevision = {
  guard: "targetIsNew",
  target: "#rollout.progressing",
  actions: [
    "startRollout",
    notice(
      "Normal",
      "RolloutStarted",
      ({ context }) =>
        `new revision ${context.targetRevision}; stable is ${context.stableRevision}`,
    ),
  ],
} as const;

/**
 * Failed and Aborted: rolled back, holding until a new revision, a retry, or the target
 * returning to the stable revision (nothing left to roll out).
 */
const settled = (message: (a: Args) => string) =>
  ({
    entry: notice("Warning", "RolledBack", message),
    always: [
      { guard: "targetIsStable", target: "#rollout.healthy", actions: "forgetCanary" },
      startOnNewRevision,
    ],
    on: {
      RETRY: {
        target: "#rollout.progressing",
        actions: [
          "observe",
          "retargetCanary",
          "startRollout",
          notice(
            "Normal",
            "RetryStarted",
            ({ context }) => `retrying revision ${context.targetRevision}`,
          ),
        ],
      },
    },
  }) as const;

/**
 * The rollout statechart. Pure: time arrives on events, observations arrive as events, and what
 * should happen in the cluster is read off the snapshot by view.ts. Kubernetes Events leave as
 * emitted Notices.
 */
export const rolloutMachine = setup({
  types: {
    context: {} as Context,
    events: {} as RolloutEvent,
    input: {} as MachineInput,
    emitted: {} as Notice,
  },
  actions: {
    observe: assign(({ context, event }) => observe(context, event)),
    takeSpec: assign({ plan: ({ event }) => (event as Ev<"SPEC">).plan }),
    adoptStable: assign({
      stableRevision: ({ context }) => context.primaryRevision ?? context.targetRevision,
    }),
    startRollout: assign(({ context }) => ({
      ...FRESH_ROLLOUT,
      canaryRevision: context.targetRevision,
      waitingSince: context.now,
      pauses: context.pauses.filter((p) => p.reason === "Person"),
    })),
    enterStep: assign(({ context }) => {
      const step = currentStep(context);
      return {
        stepStartedAt: context.now,
        passes: 0,
        canaryWeight: step?.kind === "setWeight" ? step.weight : context.canaryWeight,
        // A canary that serves requests is judged on them: mirroring ends with the first weight.
        mirrorPercent:
          step?.kind === "setMirror"
            ? step.percent
            : step?.kind === "setWeight"
              ? 0
              : context.mirrorPercent,
        nextCheckAt: context.plan.checks ? context.now + context.plan.intervalMs : undefined,
      };
    }),
    advance: assign({ stepIndex: ({ context }) => context.stepIndex + 1 }),
    switchAll: assign(({ context }) => ({
      stepStartedAt: context.now,
      passes: 0,
      canaryWeight: 100,
      mirrorPercent: 0,
      nextCheckAt: context.plan.checks ? context.now + context.plan.intervalMs : undefined,
    })),
    addStepPause: assign({
      pauses: ({ context }) => {
        const step = currentStep(context);
        const until =
          step?.kind === "pause" && step.durationMs !== undefined
            ? context.now + step.durationMs
            : undefined;
        return [
          ...withoutPause(context.pauses, "Step"),
          { reason: "Step" as const, since: context.now, until },
        ];
      },
    }),
    clearStepPause: assign({ pauses: ({ context }) => withoutPause(context.pauses, "Step") }),
    resume: assign(({ context }) => ({
      pauses: context.pauses.filter((p) => p.reason === "Person"),
      consecutiveInconclusive: 0,
    })),
    scheduleGate: assign({ nextCheckAt: ({ context }) => context.now }),
    gateFailed: assign({ nextCheckAt: ({ context }) => context.now + context.plan.intervalMs }),
    countGateFailure: assign({ failed: ({ context }) => context.failed + 1 }),
    record: assign(({ context, event }) => recordCheck(context, analysisOf(event), context.now)),
    waitForPrimary: assign({ waitingSince: ({ context }) => context.now }),
    finishPromotion: assign(({ context }) => ({
      stableRevision: context.canaryRevision,
      canaryRevision: undefined,
      canaryWeight: 0,
      mirrorPercent: 0,
      stepStartedAt: undefined,
      nextCheckAt: undefined,
      waitingSince: undefined,
      pauses: context.pauses.filter((p) => p.reason === "Person"),
    })),
    startRollback: assign(({ context }) => ({
      canaryWeight: 0,
      mirrorPercent: 0,
      nextCheckAt: undefined,
      waitingSince: undefined,
      pauses: context.pauses.filter((p) => p.reason === "Person"),
    })),
    rollbackTo: assign((_, end: RollbackEnd) => ({ rollbackTo: end })),
    notify: emit((_, notice: Notice) => notice),
    setOutcome: assign((_, outcome: Outcome) => ({ outcome })),
    retargetCanary: assign({
      targetRevision: ({ context }) => context.targetRevision ?? context.canaryRevision,
    }),
    forgetCanary: assign({ canaryRevision: undefined, canaryReady: false }),
    byPerson: assign({ promotedBy: "person" as const }),
    bySteps: assign({ promotedBy: "steps" as const }),
  },
  guards: {
    hasTarget: ({ context }) => context.targetRevision !== undefined,
    primaryServesStable: ({ context }) =>
      context.stableRevision !== undefined &&
      context.primaryReadyRevision === context.stableRevision,
    primaryServesCanary: ({ context }) =>
      context.canaryRevision !== undefined &&
      context.primaryReadyRevision === context.canaryRevision,
    targetIsNew: ({ context }) =>
      context.targetRevision !== undefined && isNewRevision(context, context.targetRevision),
    targetIsStable: ({ context }) =>
      context.targetRevision !== undefined && context.targetRevision === context.stableRevision,
    eventIsNewRevision: ({ context, event }) =>
      isNewRevision(context, (event as Ev<"TARGET">).revision),
    eventIsStable: ({ context, event }) =>
      (event as Ev<"TARGET">).revision === context.stableRevision,
    canaryReady: ({ context }) => context.canaryReady,
    mayProceed: ({ context }) => context.canaryReady && context.pauses.length === 0,
    stepsDone: ({ context }) => context.stepIndex >= context.plan.steps.length,
    stepMovesTraffic: ({ context }) => {
      const kind = currentStep(context)?.kind;
      return kind === "setWeight" || kind === "setMirror";
    },
    stepIsPause: ({ context }) => currentStep(context)?.kind === "pause",
    weightHeld: ({ context }) => !context.plan.checks || context.passes >= 1,
    trafficInEffect: ({ context }) => trafficInEffect(context),
    blueGreen: ({ context }) => context.plan.strategy.kind === "blueGreen",
    // The old version retires once the switch has been in effect for the strategy's delay.
    retirementDue: ({ context }) => {
      const at = retirementAt(context);
      return at !== undefined && context.now >= at;
    },
    enoughPasses: ({ context }) => {
      const step = currentStep(context);
      return context.passes >= (step?.kind === "analysis" ? step.passes : 1);
    },
    preRolloutGate: ({ context }) => context.plan.preRolloutGate,
    confirmGate: ({ context }) => context.plan.confirmPromotionGate,
    gatePassed: ({ event }, gate: Ev<"GATE">["gate"]) => {
      const e = event as Ev<"GATE">;
      return e.gate === gate && e.passed;
    },
    gateFailed: ({ event }, gate: Ev<"GATE">["gate"]) => {
      const e = event as Ev<"GATE">;
      return e.gate === gate && !e.passed && !e.errored;
    },
    gateErrored: ({ event }, gate: Ev<"GATE">["gate"]) => {
      const e = event as Ev<"GATE">;
      return e.gate === gate && !e.passed && e.errored === true;
    },
    gateFailureLimit: ({ context, event }) => {
      const e = event as Ev<"GATE">;
      return (
        e.gate === "pre-rollout" &&
        !e.passed &&
        !e.errored &&
        context.failed + 1 >= context.plan.failureLimit
      );
    },
    failureLimit: ({ context, event }) =>
      checkOutcome(analysisOf(event)) === "failed" &&
      context.failed + 1 >= context.plan.failureLimit,
    errorLimit: ({ context, event }) =>
      checkOutcome(analysisOf(event)) === "errored" &&
      context.consecutiveErrors + 1 >= context.plan.errorLimit,
    checkFailed: ({ event }) => checkOutcome(analysisOf(event)) === "failed",
    checkErrored: ({ event }) => checkOutcome(analysisOf(event)) === "errored",
    checkInconclusive: ({ event }) => checkOutcome(analysisOf(event)) === "inconclusive",
    deadlinePassed: ({ context, event }) =>
      context.waitingSince !== undefined &&
      event.now - context.waitingSince > context.plan.deadlineMs,
    trafficOffCanary: ({ context }) => context.trafficWeight === 0,
    endsIn: ({ context }, end: RollbackEnd) => context.rollbackTo === end,
  },
}).createMachine({
  id: "rollout",
  context: ({ input }) => initialContext(input.plan, input.now),
  initial: "initializing",
  // Every event is observed wherever it lands; the states below add what it means there.
  on: {
    "*": { actions: "observe" },
    SPEC: { actions: ["observe", "takeSpec"] },
    RESUME: {
      actions: ["observe", notice("Normal", "ActionIgnored", () => "resume: nothing is paused")],
    },
    PROMOTE: {
      actions: [
        "observe",
        notice("Normal", "ActionIgnored", () => "promote: no rollout in progress"),
      ],
    },
    PROMOTE_FULL: {
      actions: [
        "observe",
        notice("Normal", "ActionIgnored", () => "promote-full: no rollout in progress"),
      ],
    },
    ABORT: {
      actions: [
        "observe",
        notice("Normal", "ActionIgnored", () => "abort: no rollout in progress"),
      ],
    },
    RETRY: {
      actions: [
        "observe",
        notice(
          "Normal",
          "ActionIgnored",
          () => "retry: only a failed or aborted rollout can be retried",
        ),
      ],
    },
  },
  states: {
    // What the primary runs is the stable revision: only a Rollout with no primary yet takes the
    // target's. A machine started afresh beside a primary (status lost or removed by hand) so
    // never sends a revision that was never verified to all traffic.
    initializing: {
      on: {
        TARGET: { actions: ["observe", "adoptStable"] },
        PRIMARY: { actions: ["observe", "adoptStable"] },
      },
      always: {
        guard: "primaryServesStable",
        target: "healthy",
        actions: notice(
          "Normal",
          "Initialized",
          ({ context }) => `primary serves revision ${context.stableRevision}`,
        ),
      },
    },

    healthy: { always: startOnNewRevision },

    progressing: {
      initial: "awaitingCanary",
      on: {
        TARGET: [
          {
            guard: "eventIsStable",
            target: "rollingBack",
            actions: [
              "observe",
              "startRollback",
              { type: "rollbackTo", params: "healthy" },
              outcome(
                "RevisionReverted",
                ({ context }) => `target returned to the stable revision ${context.stableRevision}`,
              ),
              notice(
                "Normal",
                "RolloutCancelled",
                ({ context }) => `target returned to the stable revision ${context.stableRevision}`,
              ),
            ],
          },
          {
            guard: "eventIsNewRevision",
            target: "progressing",
            reenter: true,
            actions: [
              "observe",
              "startRollout",
              notice(
                "Normal",
                "RolloutRestarted",
                ({ context }) =>
                  `new revision ${context.targetRevision} during the rollout: back to step 1, stable is still ${context.stableRevision}`,
              ),
            ],
          },
        ],
        ANALYSIS: [
          {
            guard: "failureLimit",
            target: "rollingBack",
            actions: [
              outcome("AnalysisFailed", failureMessage),
              notice("Warning", "AnalysisFailed", failureMessage),
              "observe",
              "record",
              "startRollback",
              { type: "rollbackTo", params: "failed" },
            ],
          },
          {
            guard: "errorLimit",
            target: "rollingBack",
            actions: [
              outcome("AnalysisErrored", errorMessage),
              notice("Warning", "AnalysisErrored", errorMessage),
              "observe",
              "record",
              "startRollback",
              { type: "rollbackTo", params: "failed" },
            ],
          },
          {
            guard: "checkFailed",
            actions: [
              notice(
                "Warning",
                "CheckFailed",
                ({ context, event }) =>
                  `check ${context.failed + 1}/${context.plan.failureLimit} failed: ${describeResults(analysisOf(event), "failed")}`,
              ),
              "observe",
              "record",
            ],
          },
          {
            guard: "checkErrored",
            actions: [
              notice(
                "Warning",
                "CheckErrored",
                ({ context, event }) =>
                  `metrics could not be read (${context.consecutiveErrors + 1}/${context.plan.errorLimit} in a row): ${describeResults(analysisOf(event), "errored")}`,
              ),
              "observe",
              "record",
            ],
          },
          {
            guard: "checkInconclusive",
            actions: [
              notice(
                "Normal",
                "CheckInconclusive",
                ({ context, event }) =>
                  `too little data to judge (${context.consecutiveInconclusive + 1}/${context.plan.inconclusiveLimit} in a row): ${describeResults(analysisOf(event), "inconclusive") || "no metrics"}`,
              ),
              "observe",
              "record",
            ],
          },
          { actions: ["observe", "record"] },
        ],
        TICK: {
          guard: and([not("canaryReady"), "deadlinePassed"]),
          target: "rollingBack",
          actions: [
            outcome(
              "ProgressDeadlineExceeded",
              ({ context }) =>
                `canary revision ${context.canaryRevision} was not ready within ${context.plan.deadlineMs / 1000}s`,
            ),
            notice(
              "Warning",
              "ProgressDeadlineExceeded",
              ({ context }) =>
                `canary revision ${context.canaryRevision} was not ready within ${context.plan.deadlineMs / 1000}s`,
            ),
            "observe",
            "startRollback",
            { type: "rollbackTo", params: "failed" },
          ],
        },
        ABORT: {
          target: "rollingBack",
          actions: [
            "observe",
            outcome("Aborted", ({ context }) => `aborted by a person at ${stepLabel(context)}`),
            notice(
              "Warning",
              "Aborted",
              ({ context }) => `aborted by a person at ${stepLabel(context)}; rolling back`,
            ),
            "startRollback",
            { type: "rollbackTo", params: "aborted" },
          ],
        },
        PROMOTE: promotionRequested(
          ".confirming",
          ({ context }) =>
            `promote: skipping steps ${context.stepIndex + 1}..${context.plan.steps.length}`,
        ),
        PROMOTE_FULL: promotionRequested(
          "#rollout.promoting",
          () => "promote-full: skipping the remaining steps and gates",
        ),
        RESUME: {
          actions: [
            "observe",
            "resume",
            notice("Normal", "Resumed", ({ context }) => `resumed at ${stepLabel(context)}`),
          ],
        },
      },
      states: {
        awaitingCanary: {
          always: {
            guard: "canaryReady",
            target: "preRollout",
            actions: notice(
              "Normal",
              "CanaryReady",
              ({ context }) => `canary revision ${context.canaryRevision} is ready`,
            ),
          },
        },
        preRollout: {
          entry: "scheduleGate",
          always: { guard: not("preRolloutGate"), target: "nextStep" },
          on: {
            GATE: [
              gateErrored("pre-rollout"),
              {
                guard: { type: "gatePassed", params: "pre-rollout" },
                target: "nextStep",
                actions: [
                  "observe",
                  notice("Normal", "GatePassed", () => "pre-rollout webhooks passed"),
                ],
              },
              {
                guard: "gateFailureLimit",
                target: "#rollout.rollingBack",
                actions: [
                  "observe",
                  outcome(
                    "GateFailed",
                    ({ event }) =>
                      `pre-rollout webhook failed: ${(event as Ev<"GATE">).message ?? "no reason given"}`,
                  ),
                  notice(
                    "Warning",
                    "GateFailed",
                    ({ event }) =>
                      `pre-rollout webhook failed: ${(event as Ev<"GATE">).message ?? "no reason given"}`,
                  ),
                  "countGateFailure",
                  "startRollback",
                  { type: "rollbackTo", params: "failed" },
                ],
              },
              {
                guard: { type: "gateFailed", params: "pre-rollout" },
                actions: [
                  "observe",
                  "countGateFailure",
                  "gateFailed",
                  notice(
                    "Warning",
                    "GateHeld",
                    ({ event }) =>
                      `pre-rollout webhook failed: ${(event as Ev<"GATE">).message ?? "no reason given"}`,
                  ),
                ],
              },
            ],
          },
        },
        // Between steps: the next one starts only with the canary ready and nothing holding it.
        nextStep: {
          always: [
            { guard: and(["mayProceed", "stepsDone"]), target: "confirming", actions: "bySteps" },
            { guard: and(["mayProceed", "stepMovesTraffic"]), target: "weighting" },
            { guard: and(["mayProceed", "stepIsPause"]), target: "pausing" },
            { guard: "mayProceed", target: "analysing" },
          ],
        },
        weighting: {
          entry: [
            "enterStep",
            notice(
              "Normal",
              "StepAdvanced",
              ({ context }) =>
                `${stepLabel(context)}: ${describeStep(currentStep(context) as PlanStep)}`,
            ),
          ],
          // A weight counts once the route shows it: a step decided and recorded but never
          // written (its controller died first) is not a step that ran, and the next one (a
          // pause, whose clock starts here) waits for it.
          always: {
            guard: and(["mayProceed", "weightHeld", "trafficInEffect"]),
            target: "nextStep",
            actions: "advance",
          },
        },
        pausing: {
          entry: [
            "enterStep",
            "addStepPause",
            notice(
              "Normal",
              "StepAdvanced",
              ({ context }) =>
                `${stepLabel(context)}: ${describeStep(currentStep(context) as PlanStep)}`,
            ),
          ],
          exit: "clearStepPause",
          always: {
            guard: "mayProceed",
            target: "nextStep",
            actions: "advance",
          },
        },
        analysing: {
          entry: [
            "enterStep",
            notice(
              "Normal",
              "StepAdvanced",
              ({ context }) =>
                `${stepLabel(context)}: ${describeStep(currentStep(context) as PlanStep)}`,
            ),
          ],
          always: {
            guard: and(["mayProceed", "enoughPasses"]),
            target: "nextStep",
            actions: "advance",
          },
        },
        confirming: {
          entry: "scheduleGate",
          always: { guard: not("confirmGate"), target: "confirmed" },
          on: {
            GATE: [
              gateErrored("confirm-promotion"),
              {
                guard: { type: "gatePassed", params: "confirm-promotion" },
                target: "confirmed",
                actions: [
                  "observe",
                  notice("Normal", "GatePassed", () => "confirm-promotion webhooks passed"),
                ],
              },
              {
                guard: { type: "gateFailed", params: "confirm-promotion" },
                actions: [
                  "observe",
                  "gateFailed",
                  notice(
                    "Normal",
                    "GateHeld",
                    ({ event }) =>
                      `promotion held by confirm-promotion webhook: ${(event as Ev<"GATE">).message ?? "no reason given"}`,
                  ),
                ],
              },
            ],
          },
        },
        // The strategies part here: a canary's primary takes the revision at the weight it
        // reached; a blue/green one first takes all traffic, which a pause holds off even
        // after a promote.
        confirmed: {
          always: [
            { guard: and(["blueGreen", "mayProceed"]), target: "switched" },
            { guard: not("blueGreen"), target: "#rollout.promoting" },
          ],
        },
        // Blue/green: all traffic on the new revision in one write, the old one still running
        // beside it, so that a failed check or an abort can send everything back in one write.
        switched: {
          entry: [
            "switchAll",
            notice(
              "Normal",
              "Switched",
              ({ context }) =>
                `all traffic to revision ${context.canaryRevision}; revision ${context.stableRevision} keeps running for ${scaleDownDelayS(context)}s`,
            ),
          ],
          always: {
            guard: and(["mayProceed", "weightHeld", "retirementDue"]),
            target: "#rollout.promoting",
          },
          on: {
            PROMOTE: promotionRequested(
              "#rollout.promoting",
              ({ context }) =>
                `promote: retiring revision ${context.stableRevision} without waiting out the delay`,
            ),
          },
        },
      },
    },

    promoting: {
      entry: [
        "waitForPrimary",
        notice(
          "Normal",
          "PromotionStarted",
          ({ context }) => `primary takes revision ${context.canaryRevision}`,
        ),
      ],
      always: {
        guard: "primaryServesCanary",
        target: "healthy",
        actions: [
          notice(
            "Normal",
            "Promoted",
            ({ context }) =>
              `revision ${context.canaryRevision} promoted; it now serves all traffic`,
          ),
          "finishPromotion",
        ],
      },
      on: {
        TICK: {
          guard: "deadlinePassed",
          target: "rollingBack",
          actions: [
            outcome(
              "ProgressDeadlineExceeded",
              ({ context }) =>
                `primary did not become ready at revision ${context.canaryRevision} within ${context.plan.deadlineMs / 1000}s`,
            ),
            notice(
              "Warning",
              "ProgressDeadlineExceeded",
              ({ context }) =>
                `primary did not become ready at revision ${context.canaryRevision} within ${context.plan.deadlineMs / 1000}s`,
            ),
            "observe",
            "startRollback",
            { type: "rollbackTo", params: "failed" },
          ],
        },
        ABORT: {
          target: "rollingBack",
          actions: [
            "observe",
            outcome("Aborted", () => "aborted by a person during promotion"),
            notice(
              "Warning",
              "Aborted",
              () =>
                "aborted by a person during promotion; the primary returns to the stable revision",
            ),
            "startRollback",
            { type: "rollbackTo", params: "aborted" },
          ],
        },
      },
    },

    rollingBack: {
      entry: notice(
        "Warning",
        "RollingBack",
        ({ context }) => `canary weight to 0, primary at stable revision ${context.stableRevision}`,
      ),
      always: [
        {
          guard: and([
            "trafficOffCanary",
            "primaryServesStable",
            { type: "endsIn", params: "healthy" as const },
          ]),
          target: "healthy",
          actions: "forgetCanary",
        },
        {
          guard: and([
            "trafficOffCanary",
            "primaryServesStable",
            { type: "endsIn", params: "aborted" as const },
          ]),
          target: "aborted",
        },
        {
          guard: and(["trafficOffCanary", "primaryServesStable"]),
          target: "failed",
        },
      ],
    },

    failed: settled(
      ({ context }) =>
        `rolled back to ${context.stableRevision}: ${context.outcome?.message ?? ""}`,
    ),
    aborted: settled(({ context }) => `aborted; rolled back to ${context.stableRevision}`),
  },
});

export type RolloutMachine = typeof rolloutMachine;
