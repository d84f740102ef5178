import type { Analyst } from "./analyst.ts";

/**
 * The analyst used until metric providers and webhooks are wired in: every metric is an error
 * with that reason (never a pass, never a failure), so a rollout with metrics holds and says why.
 */
export const unconfiguredAnalyst: Analyst = {
  async check(subject) {
    return subject.spec.analysis.metrics.map((m) => ({
      name: m.name,
      outcome: "errored" as const,
      message: `no ${m.provider.type} metric provider is configured in this controller`,
    }));
  },
  async gate(_subject, gate) {
    return {
      passed: false,
      message: `no webhook client is configured in this controller for ${gate}`,
    };
  },
};
