import axios from "axios";
import { durationMs } from "../api/common.ts";
import type { Webhook } from "../api/rollout.ts";
import type { CheckResult } from "../machine/context.ts";
import { forRollout, type Logger } from "../observability/logger.ts";
import type { AnalysisSubject, GateOutcome, Notification } from "./analyst.ts";
import { excerpt, noAnswer } from "./http.ts";

/** What every webhook receives, as JSON. */
export type WebhookPayload = {
  name: string;
  namespace: string;
  phase: string;
  /** 1-based, as status messages count steps. */
  step: number;
  weight: number;
  type: Webhook["type"];
  metadata: Record<string, string>;
};

export function payloadOf(
  subject: AnalysisSubject,
  hook: Webhook,
  extra: Record<string, string> = {},
): WebhookPayload {
  return {
    name: subject.name,
    namespace: subject.namespace,
    phase: subject.phase,
    // Past the last step (promoting, promoted) it stays at the last.
    step: Math.min(subject.stepIndex + 1, subject.spec.steps.length),
    weight: subject.canaryWeight,
    type: hook.type,
    metadata: { ...hook.metadata, ...extra },
  };
}

/** Any 2xx passes; another answer fails; no answer is an error, never a failure. */
export async function callWebhook(hook: Webhook, payload: WebhookPayload): Promise<GateOutcome> {
  const timeoutMs = durationMs(hook.timeout);
  try {
    const response = await axios.post(hook.url, payload, {
      timeout: timeoutMs,
      responseType: "text",
      transformResponse: (body: unknown) => body,
      validateStatus: () => true,
    });
    if (response.status >= 200 && response.status < 300) return { outcome: "passed" };
    const body = excerpt(response.data);
    return {
      outcome: "failed",
      message: `webhook ${hook.name} answered ${response.status}${body ? `: ${body}` : ""}`,
    };
  } catch (e) {
    return {
      outcome: "errored",
      message: `webhook ${hook.name}: ${noAnswer(e, hook.url, timeoutMs).reason}`,
    };
  }
}

const SEVERITY: Record<GateOutcome["outcome"], number> = { passed: 0, errored: 1, failed: 2 };

/** A gate opens when every webhook of its type passes; one refusal outweighs one silence. */
export async function gate(subject: AnalysisSubject, type: Webhook["type"]): Promise<GateOutcome> {
  const hooks = subject.spec.analysis.webhooks.filter((h) => h.type === type);
  const outcomes = await Promise.all(hooks.map((h) => callWebhook(h, payloadOf(subject, h))));
  return gateOf(outcomes);
}

/** The gate that several webhooks' answers make together. */
export function gateOf(outcomes: readonly GateOutcome[]): GateOutcome {
  let worst: GateOutcome["outcome"] = "passed";
  for (const o of outcomes) if (SEVERITY[o.outcome] > SEVERITY[worst]) worst = o.outcome;
  if (worst === "passed") return { outcome: "passed" };
  const message = outcomes
    .filter((o) => o.outcome === worst)
    .map((o) => o.message)
    .join("; ");
  return { outcome: worst, message };
}

/** "rollout" webhooks are checks at every interval, judged beside the metrics. */
export async function webhookChecks(subject: AnalysisSubject): Promise<CheckResult[]> {
  const hooks = subject.spec.analysis.webhooks.filter((h) => h.type === "rollout");
  return Promise.all(
    hooks.map(async (h): Promise<CheckResult> => {
      const o = await callWebhook(h, payloadOf(subject, h));
      return o.message === undefined
        ? { name: h.name, outcome: o.outcome }
        : { name: h.name, outcome: o.outcome, message: o.message };
    }),
  );
}

/**
 * Tells post-rollout, rollback or event webhooks; their answers change nothing, so a failure is
 * logged for the person who configured them.
 */
export async function notifyWebhooks(
  subject: AnalysisSubject,
  notification: Notification,
  logger: Logger,
): Promise<void> {
  const hooks = subject.spec.analysis.webhooks.filter((h) => h.type === notification.type);
  const extra: Record<string, string> =
    notification.type === "event"
      ? {
          eventType: notification.notice.type,
          eventReason: notification.notice.reason,
          eventMessage: notification.notice.message,
        }
      : {};
  const log = forRollout(logger, subject.namespace, subject.name);
  await Promise.all(
    hooks.map(async (h) => {
      const o = await callWebhook(h, payloadOf(subject, h, extra));
      if (o.outcome !== "passed") log.warn({ webhook: h.name, type: h.type }, o.message);
    }),
  );
}
