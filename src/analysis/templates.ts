import {
  AnalysisTemplateSpec,
  type TemplateObject,
  templateKindOf,
} from "../api/analysis-template.ts";
import { type Parsed, parseAs } from "../api/parse.ts";
import {
  type Metric,
  type RolloutSpec,
  type TemplateKind,
  type TemplateRef,
  type TemplateSource,
  Webhook,
} from "../api/rollout.ts";
import type { CheckResult } from "../machine/context.ts";
import { unknownVariables, unknownVariablesReason } from "./promql.ts";

/** The templates the controller's caches hold. */
export type TemplateCatalog = {
  /** A kind's templates (an AnalysisTemplate's in the namespace); undefined when its CRD is not served. */
  list(kind: TemplateKind, namespace: string): readonly TemplateObject[] | undefined;
};

export type TemplateProblem = {
  reason: "TemplateNotFound" | "TemplateInvalid" | "TemplateConflict";
  message: string;
};

/** Which template each metric and webhook taken from one came from, by its name. */
export type Sources = ReadonlyMap<string, TemplateSource>;

export type Resolution =
  | { ok: true; spec: RolloutSpec; sources: Sources }
  | { ok: false; problem: TemplateProblem };

const ARG = /\{\{\s*args\.([A-Za-z0-9_-]*)\s*\}\}/g;

const listed = (names: readonly string[]) => names.join(", ") || "none";

const describe = (kind: TemplateKind, namespace: string, name: string) =>
  kind === "AnalysisTemplate" ? `AnalysisTemplate ${namespace}/${name}` : `${kind} ${name}`;

/** The args' values: the Rollout's, else the template's defaults; each declared one has a value. */
function bind(
  declared: AnalysisTemplateSpec["args"],
  given: Record<string, string>,
): Parsed<Map<string, string>> {
  const names = declared.map((a) => a.name);
  const undeclared = Object.keys(given).filter((k) => !names.includes(k));
  if (undeclared.length)
    return {
      ok: false,
      error: `the Rollout gives ${listed(undeclared)}, which it does not declare (its args: ${listed(names)})`,
    };
  const missing = declared.filter((a) => given[a.name] === undefined && a.value === undefined);
  if (missing.length)
    return {
      ok: false,
      error: `${missing.length === 1 ? "arg" : "args"} ${listed(missing.map((a) => a.name))} ${missing.length === 1 ? "has" : "have"} no default, and the Rollout gives no value`,
    };
  return {
    ok: true,
    value: new Map(declared.map((a) => [a.name, given[a.name] ?? a.value ?? ""])),
  };
}

/** Fills every {{args.x}} of one text; an x not declared is refused with those that are. */
function fill(text: string, args: ReadonlyMap<string, string>, where: string): Parsed<string> {
  const unknown = new Set<string>();
  const value = text.replace(ARG, (whole, name: string) => {
    const v = args.get(name);
    if (v === undefined) unknown.add(name);
    return v ?? whole;
  });
  if (unknown.size === 0) return { ok: true, value };
  const braced = (names: Iterable<string>) => listed([...names].map((n) => `{{args.${n}}}`));
  return {
    ok: false,
    error: `${where} uses ${braced(unknown)}; the args are ${braced(args.keys())}`,
  };
}

/** A metric with its query filled; the variables left must be those the provider fills. */
function fillMetric(m: Metric, i: number, args: ReadonlyMap<string, string>): Parsed<Metric> {
  const { query } = m.provider;
  if (query === undefined) return { ok: true, value: m };
  const where = `metrics[${i}].provider.query`;
  const filled = fill(query, args, where);
  if (!filled.ok) return filled;
  const unknown = unknownVariables(filled.value);
  if (unknown.length) return { ok: false, error: `${where}: ${unknownVariablesReason(unknown)}` };
  return { ok: true, value: { ...m, provider: { ...m.provider, query: filled.value } } };
}

/** A webhook with its URL and metadata filled, which must then be a Rollout's webhook. */
function fillWebhook(
  h: AnalysisTemplateSpec["webhooks"][number],
  i: number,
  args: ReadonlyMap<string, string>,
): Parsed<Webhook> {
  const where = `webhooks[${i}]`;
  const url = fill(h.url, args, `${where}.url`);
  if (!url.ok) return url;
  const metadata: Record<string, string> = {};
  for (const [k, v] of Object.entries(h.metadata ?? {})) {
    const filled = fill(v, args, `${where}.metadata.${k}`);
    if (!filled.ok) return filled;
    metadata[k] = filled.value;
  }
  return parseAs(Webhook, { ...h, url: url.value, ...(h.metadata ? { metadata } : {}) }, where);
}

function fillAll<T, U>(items: readonly T[], each: (t: T, i: number) => Parsed<U>): Parsed<U[]> {
  const out: U[] = [];
  for (const [i, item] of items.entries()) {
    const filled = each(item, i);
    if (!filled.ok) return filled;
    out.push(filled.value);
  }
  return { ok: true, value: out };
}

type Taken = { source: TemplateSource; metrics: Metric[]; webhooks: Webhook[] };

/** One template the Rollout names, found, parsed and filled with the Rollout's args. */
function take(
  ref: TemplateRef,
  namespace: string,
  catalog: TemplateCatalog,
): Taken | TemplateProblem {
  const kind = templateKindOf(ref);
  const what = describe(kind, namespace, ref.name);
  const all = catalog.list(kind, namespace);
  if (!all)
    return {
      reason: "TemplateNotFound",
      message: `${what} does not exist: the cluster serves no ${kind}s (install crds/)`,
    };
  const found = all.find((t) => t.metadata.name === ref.name);
  if (!found) {
    const others = all.map((t) => t.metadata.name).sort();
    return {
      reason: "TemplateNotFound",
      message: `${what} does not exist (the ${kind}s${kind === "AnalysisTemplate" ? ` in ${namespace}` : ""}: ${listed(others)})`,
    };
  }
  const invalid = (message: string): TemplateProblem => ({
    reason: "TemplateInvalid",
    message: `${what}: ${message}`,
  });
  const spec = parseAs(AnalysisTemplateSpec, found.spec, "spec");
  if (!spec.ok) return invalid(spec.error);
  const args = bind(spec.value.args, ref.args ?? {});
  if (!args.ok) return invalid(args.error);
  const metrics = fillAll(spec.value.metrics, (m, i) => fillMetric(m, i, args.value));
  if (!metrics.ok) return invalid(metrics.error);
  const webhooks = fillAll(spec.value.webhooks, (h, i) => fillWebhook(h, i, args.value));
  if (!webhooks.ok) return invalid(webhooks.error);
  const source = { kind, name: ref.name, generation: found.metadata.generation };
  return { source, metrics: metrics.value, webhooks: webhooks.value };
}

/** Every name taken twice where a template is one of the takers, with who took it. */
function collision(spec: RolloutSpec, taken: readonly Taken[]): TemplateProblem | undefined {
  const owners = new Map<string, string[]>();
  const claim = (name: string, by: string) => owners.set(name, [...(owners.get(name) ?? []), by]);
  const ownName = (what: "metric" | "webhook", name: string) =>
    claim(name, `the Rollout's ${what}`);
  for (const m of spec.analysis.metrics) ownName("metric", m.name);
  for (const h of spec.analysis.webhooks) ownName("webhook", h.name);
  for (const t of taken) {
    const from = `${t.source.kind} ${t.source.name}`;
    for (const m of t.metrics) claim(m.name, `a metric of ${from}`);
    for (const h of t.webhooks) claim(h.name, `a webhook of ${from}`);
  }
  const clashes = [...owners].filter(
    ([, by]) => by.length > 1 && by.some((b) => !b.startsWith("the Rollout's")),
  );
  if (clashes.length === 0) return undefined;
  return {
    reason: "TemplateConflict",
    message: `names must be unique across the Rollout and its templates: ${clashes
      .map(([name, by]) => `${name} is ${by.join(" and ")}`)
      .join("; ")}`,
  };
}

/**
 * The spec a reconcile works from: the Rollout's own analysis with the metrics and webhooks of
 * every template it names added, their args filled. Pure, and run each reconcile from the
 * caches, so a template edited mid-rollout judges the next check; a problem holds the rollout.
 */
export function resolveTemplates(
  spec: RolloutSpec,
  namespace: string,
  catalog: TemplateCatalog,
): Resolution {
  const taken: Taken[] = [];
  for (const ref of spec.analysis.templates) {
    const t = take(ref, namespace, catalog);
    if ("reason" in t) return { ok: false, problem: t };
    taken.push(t);
  }
  const clash = collision(spec, taken);
  if (clash) return { ok: false, problem: clash };
  const sources = new Map<string, TemplateSource>();
  for (const t of taken)
    for (const { name } of [...t.metrics, ...t.webhooks]) sources.set(name, t.source);
  const { analysis } = spec;
  return {
    ok: true,
    spec: {
      ...spec,
      analysis: {
        ...analysis,
        metrics: [...analysis.metrics, ...taken.flatMap((t) => t.metrics)],
        webhooks: [...analysis.webhooks, ...taken.flatMap((t) => t.webhooks)],
      },
    },
    sources,
  };
}

/** A check's results, each of a template's metric or webhook saying which template judged it. */
export function attributed(results: readonly CheckResult[], sources: Sources): CheckResult[] {
  const withSource = <T extends { name: string }>(r: T): T => {
    const template = sources.get(r.name);
    return template ? { ...r, template } : r;
  };
  return results.map((r) =>
    withSource(r.compared ? { ...r, compared: r.compared.map(withSource) } : r),
  );
}
