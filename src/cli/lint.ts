import { LineCounter, parseAllDocuments } from "yaml";
import type { z } from "zod";
import { AnalysisTemplateSpec } from "../api/analysis-template.ts";
import { durationMs } from "../api/common.ts";
import { API_VERSION, KIND, RolloutSpec, TEMPLATE_KINDS } from "../api/rollout.ts";

export type Severity = "error" | "warning";

/** One problem of one document: where it is, how bad, and what to do about it. */
export type Finding = {
  file: string;
  /** The document's first line in its file (1-based), or the line of a YAML syntax error. */
  line: number;
  /** The document's index in its stream, from 0. */
  document: number;
  /** "Rollout shop/podinfo"; undefined for a document that could not be read. */
  object?: string;
  severity: Severity;
  /** As the apiserver names fields: spec.steps[2].setWeight. */
  path: string;
  message: string;
};

/** A document lint does not judge (a Deployment beside its Rollout): said, not counted. */
export type Skipped = { file: string; line: number; document: number; kind: string };

export type LintOptions = { scrapeIntervalMs?: number | undefined };

export type LintResult = { findings: Finding[]; skipped: Skipped[] };

function fieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) out += typeof key === "number" ? `[${key}]` : `.${String(key)}`;
  return out;
}

type Raw = { apiVersion?: unknown; kind?: unknown; metadata?: unknown; spec?: unknown };
type Where = Omit<Finding, "severity" | "path" | "message">;

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function objectName(raw: Raw, kind: string): string {
  const meta = isObject(raw.metadata) ? raw.metadata : {};
  const name = typeof meta.name === "string" ? meta.name : "(no name)";
  return typeof meta.namespace === "string"
    ? `${kind} ${meta.namespace}/${name}`
    : `${kind} ${name}`;
}

/** The schema's refusals, each at the field it names; the same schema the controller parses with. */
const schemaFindings = (error: z.ZodError, where: Where): Finding[] =>
  error.issues.map((issue) => ({
    ...where,
    severity: "error",
    path: `spec${fieldPath(issue.path)}`,
    message: issue.message,
  }));

/** What the schema accepts but a person most likely did not mean. */
export function rolloutWarnings(
  spec: RolloutSpec,
  options: LintOptions,
): { path: string; message: string }[] {
  const out: { path: string; message: string }[] = [];
  let highest: { weight: number; index: number } | undefined;
  for (const [i, step] of spec.steps.entries()) {
    if (step.setWeight === undefined) continue;
    if (highest && step.setWeight < highest.weight)
      out.push({
        path: `spec.steps[${i}].setWeight`,
        message: `the weight goes down, from ${highest.weight} at step ${highest.index} to ${step.setWeight}: the canary loses traffic it was already judged on`,
      });
    if (!highest || step.setWeight > highest.weight) highest = { weight: step.setWeight, index: i };
  }
  const { analysis } = spec;
  const checks =
    analysis.metrics.length > 0 ||
    analysis.templates.length > 0 ||
    analysis.webhooks.some((w) => w.type === "rollout");
  const holds = spec.steps.some((s) => s.pause !== undefined || s.analysis !== undefined);
  if (spec.strategy === "canary" && !checks && !holds)
    out.push({
      path: "spec.steps",
      message:
        "the plan has no pause and no analysis: nothing holds a step, so the canary goes to full traffic within a few reconciles",
    });
  const interval = durationMs(analysis.interval);
  if (options.scrapeIntervalMs !== undefined && interval < 2 * options.scrapeIntervalMs)
    out.push({
      path: "spec.analysis.interval",
      message: `${analysis.interval} is shorter than two scrape intervals (${options.scrapeIntervalMs / 1000}s each): a rate() over it may have no data`,
    });
  const gateway = spec.trafficRouting.gatewayAPI;
  if (gateway?.apiVersion === "gateway.networking.k8s.io/v1beta1") {
    // Whether v1beta1's schema has rules[].name (matches) and the mirror's percent depends on the
    // Gateway API release the cluster installed; the controller reads it from the CRD.
    if (gateway.matches?.length)
      out.push({
        path: "spec.trafficRouting.gatewayAPI.matches",
        message:
          "HTTPRoute v1beta1 has rules[].name, which matches need, only in newer Gateway API releases: the controller refuses the rollout on a cluster whose CRD lacks it",
      });
    if (spec.steps.some((s) => s.setMirror !== undefined))
      out.push({
        path: "spec.steps",
        message:
          "HTTPRoute v1beta1 has the RequestMirror filter's percent, which setMirror needs, only in newer Gateway API releases: the controller refuses the rollout on a cluster whose CRD lacks it",
      });
  }
  return out;
}

const TEMPLATE_KIND_NAMES: readonly string[] = TEMPLATE_KINDS;

function lintDocument(
  raw: unknown,
  where: Omit<Where, "object">,
  options: LintOptions,
): { findings: Finding[] } | { kind: string } {
  if (!isObject(raw)) return { kind: "(not an object)" };
  const kind = typeof raw.kind === "string" ? raw.kind : "(no kind)";
  const isRollout = kind === KIND;
  if (!isRollout && !TEMPLATE_KIND_NAMES.includes(kind)) return { kind };
  const at: Where = { ...where, object: objectName(raw, kind) };
  const findings: Finding[] = [];
  if (raw.apiVersion !== API_VERSION)
    findings.push({
      ...at,
      severity: "error",
      path: "apiVersion",
      message: `must be ${API_VERSION}`,
    });
  if (!isObject(raw.metadata) || typeof raw.metadata.name !== "string")
    findings.push({ ...at, severity: "error", path: "metadata.name", message: "is required" });
  if (raw.spec === undefined) {
    findings.push({ ...at, severity: "error", path: "spec", message: "is required" });
    return { findings };
  }
  if (!isRollout) {
    const template = AnalysisTemplateSpec.safeParse(raw.spec);
    return template.success
      ? { findings }
      : { findings: [...findings, ...schemaFindings(template.error, at)] };
  }
  const parsed = RolloutSpec.safeParse(raw.spec);
  if (!parsed.success) return { findings: [...findings, ...schemaFindings(parsed.error, at)] };
  const warnings = rolloutWarnings(parsed.data, options).map(
    (w): Finding => ({ ...at, severity: "warning", ...w }),
  );
  return { findings: [...findings, ...warnings] };
}

/** Lints one file's text: a YAML stream of any number of documents. */
export function lintText(text: string, file: string, options: LintOptions = {}): LintResult {
  const lines = new LineCounter();
  const docs = parseAllDocuments(text, { lineCounter: lines });
  const findings: Finding[] = [];
  const skipped: Skipped[] = [];
  for (const [document, doc] of docs.entries()) {
    const line = lines.linePos(doc.contents?.range[0] ?? doc.range[0]).line;
    if (doc.errors.length > 0) {
      for (const e of doc.errors)
        findings.push({
          file,
          line: lines.linePos(e.pos[0]).line,
          document,
          severity: "error",
          path: "(yaml)",
          message: e.message.split("\n")[0] ?? e.message,
        });
      continue;
    }
    const raw = doc.toJS();
    if (raw === null || raw === undefined) continue; // an empty document, as after a trailing ---
    const result = lintDocument(raw, { file, line, document }, options);
    if ("findings" in result) findings.push(...result.findings);
    else skipped.push({ file, line, document, kind: result.kind });
  }
  return { findings, skipped };
}

/** `rollout.yaml:2 (Rollout shop/podinfo) spec.steps[2].setWeight: error: ...` */
export function findingLine(f: Finding): string {
  const object = f.object ? ` (${f.object})` : "";
  return `${f.file}:${f.line}${object} ${f.path}: ${f.severity}: ${f.message}`;
}

export const skippedLine = (s: Skipped) =>
  `${s.file}:${s.line}: note: skipped a ${s.kind}: lint judges Rollouts, AnalysisTemplates and ClusterAnalysisTemplates`;

/** 1 when any finding is an error; warnings alone pass. */
export const exitCode = (findings: readonly Finding[]) =>
  findings.some((f) => f.severity === "error") ? 1 : 0;
