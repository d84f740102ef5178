import type { RolloutSpec } from "../api/rollout.ts";
import type { CheckResult, GateName } from "../machine/context.ts";

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
  now: number;
};

/** Reads the metrics and calls the webhooks; every failure to read is a result with a reason, not a throw. */
export interface Analyst {
  check(subject: AnalysisSubject): Promise<CheckResult[]>;
  gate(subject: AnalysisSubject, gate: GateName): Promise<{ passed: boolean; message?: string }>;
}
