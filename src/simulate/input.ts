import { parseAllDocuments } from "yaml";
import { resolveTemplates } from "../analysis/templates.ts";
import { type TemplateObject, templateObject } from "../api/analysis-template.ts";
import { type Parsed, parseAs } from "../api/parse.ts";
import { RolloutSpec, TEMPLATE_KINDS, type TemplateKind } from "../api/rollout.ts";
import { type Plan, planFromSpec } from "../machine/plan.ts";
import { Scenario } from "./scenario.ts";

export type Simulated = { spec: RolloutSpec; plan: Plan };

function documents(text: string, what: string): Parsed<unknown[]> {
  const docs = parseAllDocuments(text);
  if (!Array.isArray(docs)) return { ok: true, value: [] };
  const broken = docs.find((d) => d.errors.length > 0);
  if (broken) return { ok: false, error: `${what}: ${broken.errors[0]?.message}` };
  return { ok: true, value: docs.map((d) => d.toJSON()) };
}

const kindOf = (doc: unknown) => (doc as { kind?: unknown } | null)?.kind;

/**
 * The Rollout in a file, with its analysis templates resolved from the same file's other
 * documents: offline there is no cluster to read them from, so a template the file does not
 * hold is refused as the controller would refuse it (TemplateNotFound). Metrics compared with
 * the primary need both versions' series, which a scenario does not give, so they are refused too.
 */
export function rolloutFromText(text: string): Parsed<Simulated> {
  const docs = documents(text, "the Rollout file");
  if (!docs.ok) return docs;
  const rollouts = docs.value.filter((d) => kindOf(d) === "Rollout");
  if (rollouts.length !== 1)
    return { ok: false, error: `the file holds ${rollouts.length} Rollouts; simulate takes one` };
  const rollout = rollouts[0] as { metadata?: { namespace?: string }; spec?: unknown };
  const own = parseAs(RolloutSpec, rollout.spec, "spec");
  if (!own.ok) return own;
  const namespace = rollout.metadata?.namespace ?? "default";
  const templates = new Map<TemplateKind, TemplateObject[]>(
    TEMPLATE_KINDS.map((kind) => [
      kind,
      docs.value.filter((d) => kindOf(d) === kind).flatMap((d) => templateObject(kind)(d) ?? []),
    ]),
  );
  const resolved = resolveTemplates(own.value, namespace, {
    list: (kind, ns) =>
      templates
        .get(kind)
        ?.filter(
          (t) => kind === "ClusterAnalysisTemplate" || (t.metadata.namespace ?? namespace) === ns,
        ),
  });
  if (!resolved.ok)
    return { ok: false, error: `${resolved.problem.reason}: ${resolved.problem.message}` };
  const { spec } = resolved;
  const compared = spec.analysis.metrics.filter((m) => m.compare).map((m) => m.name);
  if (compared.length)
    return {
      ok: false,
      error: `metrics compared with the primary cannot be simulated (no series to compare): ${compared.join(", ")}`,
    };
  const plan = planFromSpec(spec);
  return plan.ok ? { ok: true, value: { spec, plan: plan.value } } : plan;
}

/** A scenario file (YAML or JSON); none means every check passes and Deployments are ready at once. */
export function scenarioFromText(text: string | undefined): Parsed<Scenario> {
  if (text === undefined) return { ok: true, value: Scenario.parse({}) };
  const docs = documents(text, "the scenario");
  if (!docs.ok) return docs;
  return parseAs(Scenario, docs.value[0] ?? {}, "scenario");
}
