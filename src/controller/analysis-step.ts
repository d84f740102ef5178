import { type AnalysisSubject, type Analyst, gateEvent } from "../analysis/analyst.ts";
import { attributed, type Sources } from "../analysis/templates.ts";
import type { RolloutEvent } from "../machine/context.ts";
import type { Due } from "../machine/view.ts";
import type { Logger } from "../observability/logger.ts";
import type { ControllerMetrics } from "../observability/metrics.ts";

/** The work the machine says is due (a check of the canary, or a gate's webhooks), done and told back as its event. */
export class AnalysisStep {
  private readonly analyst: Analyst;
  private readonly metrics: ControllerMetrics | undefined;

  constructor(analyst: Analyst, metrics: ControllerMetrics | undefined) {
    this.analyst = analyst;
    this.metrics = metrics;
  }

  /** Each result of a template's metric or webhook names the template, at its generation, that judged it. */
  async run(
    due: Due,
    subject: AnalysisSubject,
    sources: Sources,
    now: number,
    log: Logger,
  ): Promise<RolloutEvent> {
    if (due.kind === "gate") {
      return gateEvent(due.gate, await this.analyst.gate(subject, due.gate), now);
    }
    const results = attributed(await this.analyst.check(subject), sources);
    const { namespace, name } = subject;
    for (const r of results) {
      log.info(
        {
          metric: r.name,
          outcome: r.outcome,
          value: r.value,
          requests: r.requests,
          message: r.message,
          template: r.template,
        },
        "check",
      );
      this.metrics?.checks.inc({ namespace, name, metric: r.name, outcome: r.outcome });
    }
    return { type: "ANALYSIS", results, now };
  }
}
