import { type GateOutcome, gateEvent } from "../analysis/analyst.ts";
import { judgeRead } from "../analysis/judge.ts";
import { read, unreadable } from "../analysis/reading.ts";
import { gateOf } from "../analysis/webhooks.ts";
import type { RolloutSpec, Webhook } from "../api/rollout.ts";
import type { CheckResult, RolloutEvent } from "../machine/context.ts";
import type { Due } from "../machine/view.ts";
import { readingAt, type Scenario } from "./scenario.ts";

/** A webhook's answer in the scenario: passes unless an entry says it fails or cannot be reached. */
function webhookGateOutcome(scenario: Scenario, hook: Webhook, at: number): GateOutcome {
  const r = readingAt(scenario.metrics[hook.name], at);
  if (r?.error !== undefined)
    return {
      outcome: "errored",
      message: `webhook ${hook.name}: ${r.error === true ? "no answer" : r.error}`,
    };
  if (r?.fail) return { outcome: "failed", message: `webhook ${hook.name} answered 500` };
  return { outcome: "passed" };
}

/**
 * One check as the controller's analyst would report it, the scenario standing in for the
 * providers: each metric's reading goes through the controller's own judgement. A metric the
 * scenario does not name reads at its threshold, which passes.
 */
export function checkResults(spec: RolloutSpec, scenario: Scenario, at: number): CheckResult[] {
  const { minRequestCount } = spec.analysis;
  const metrics = spec.analysis.metrics.flatMap((m) => {
    const threshold = m.thresholdRange;
    if (!threshold) return [];
    const r = readingAt(scenario.metrics[m.name], at);
    const result =
      r?.error !== undefined
        ? unreadable(r.error === true ? "the provider could not be read" : r.error)
        : read(
            r?.noData ? undefined : (r?.value ?? threshold.min ?? threshold.max ?? 0),
            r?.requests,
          );
    return [judgeRead(m.name, result, threshold, minRequestCount)];
  });
  const hooks = spec.analysis.webhooks
    .filter((h) => h.type === "rollout")
    .map((h): CheckResult => ({ name: h.name, ...webhookGateOutcome(scenario, h, at) }));
  return [...metrics, ...hooks];
}

/** The work the machine says is due, done against the scenario and told back as its event. */
export function dueEvent(
  due: Due,
  spec: RolloutSpec,
  scenario: Scenario,
  now: number,
  at: number,
): RolloutEvent {
  if (due.kind === "analysis")
    return { type: "ANALYSIS", results: checkResults(spec, scenario, at), now };
  const hooks = spec.analysis.webhooks.filter((h) => h.type === due.gate);
  return gateEvent(due.gate, gateOf(hooks.map((h) => webhookGateOutcome(scenario, h, at))), now);
}
