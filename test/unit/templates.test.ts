import { describe, expect, it } from "vitest";
import {
  attributed,
  resolveTemplates,
  type TemplateCatalog,
} from "../../src/analysis/templates.ts";
import type { TemplateObject } from "../../src/api/analysis-template.ts";
import { type RolloutSpec, RolloutSpec as RolloutSpecSchema } from "../../src/api/rollout.ts";
import type { RolloutObject } from "../../src/controller/rollout-object.ts";
import { TemplateUsers } from "../../src/controller/template-users.ts";

const NS = "shop";

const latency: TemplateObject = {
  kind: "ClusterAnalysisTemplate",
  metadata: { name: "latency", generation: 3 },
  spec: {
    args: [{ name: "service" }, { name: "team" }, { name: "quantile", value: "0.99" }],
    metrics: [
      {
        name: "latency-ms",
        thresholdRange: { max: 500 },
        provider: {
          type: "prometheus",
          query:
            'histogram_quantile({{args.quantile}}, sum by (le) (rate(latency_bucket{service="{{args.service}}",deployment="{{target}}"}[{{interval}}])))',
        },
      },
    ],
    webhooks: [
      {
        name: "load-test",
        url: "http://{{args.service}}-load.{{args.team}}.svc/start",
        metadata: { service: "{{args.service}}" },
      },
    ],
  },
};

const success: TemplateObject = {
  kind: "AnalysisTemplate",
  metadata: { name: "success", namespace: NS, generation: 1 },
  spec: { metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }] },
};

const catalogOf = (...templates: TemplateObject[]): TemplateCatalog => ({
  list: (kind, namespace) =>
    templates.filter(
      (t) => t.kind === kind && (kind !== "AnalysisTemplate" || t.metadata.namespace === namespace),
    ),
});

const specWith = (analysis: Record<string, unknown>): RolloutSpec =>
  RolloutSpecSchema.parse({
    targetRef: { name: "podinfo" },
    service: { port: 9898 },
    steps: [{ setWeight: 20 }],
    analysis,
  });

const resolve = (analysis: Record<string, unknown>, ...templates: TemplateObject[]) =>
  resolveTemplates(specWith(analysis), NS, catalogOf(...templates));

const problemOf = (r: ReturnType<typeof resolve>) => (r.ok ? undefined : r.problem);

describe("resolving a Rollout's templates", () => {
  it("adds the templates' metrics and webhooks to the Rollout's, args filled, the provider's variables kept", () => {
    const r = resolve(
      {
        metrics: [{ name: "request-duration-p99-ms", thresholdRange: { max: 300 } }],
        templates: [
          { name: "latency", clusterScope: true, args: { service: "cart", team: "shop" } },
        ],
      },
      latency,
    );
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.spec.analysis.metrics.map((m) => m.name)).toEqual([
      "request-duration-p99-ms",
      "latency-ms",
    ]);
    expect(r.spec.analysis.metrics[1]?.provider.query).toBe(
      'histogram_quantile(0.99, sum by (le) (rate(latency_bucket{service="cart",deployment="{{target}}"}[{{interval}}])))',
    );
    expect(r.spec.analysis.webhooks).toEqual([
      expect.objectContaining({
        name: "load-test",
        url: "http://cart-load.shop.svc/start",
        metadata: { service: "cart" },
        timeout: "10s",
        type: "rollout",
      }),
    ]);
    const source = { kind: "ClusterAnalysisTemplate", name: "latency", generation: 3 };
    expect(Object.fromEntries(r.sources)).toEqual({ "latency-ms": source, "load-test": source });
  });

  it("a given arg replaces its default", () => {
    const r = resolve(
      {
        templates: [
          {
            name: "latency",
            clusterScope: true,
            args: { service: "cart", team: "shop", quantile: "0.5" },
          },
        ],
      },
      latency,
    );
    expect(r.ok && r.spec.analysis.metrics[0]?.provider.query).toMatch(
      /^histogram_quantile\(0\.5,/,
    );
  });

  it("a Rollout without templates is its own spec", () => {
    const spec = specWith({
      metrics: [{ name: "request-success-rate", thresholdRange: { min: 9 } }],
    });
    expect(resolveTemplates(spec, NS, catalogOf())).toEqual({ ok: true, spec, sources: new Map() });
  });

  it("a template that does not exist names those that do", () => {
    expect(problemOf(resolve({ templates: [{ name: "sucess" }] }, success, latency))).toEqual({
      reason: "TemplateNotFound",
      message:
        "AnalysisTemplate shop/sucess does not exist (the AnalysisTemplates in shop: success)",
    });
    expect(
      problemOf(resolve({ templates: [{ name: "success", clusterScope: true }] }, success)),
    ).toMatchObject({ reason: "TemplateNotFound", message: expect.stringContaining("none") });
  });

  it("an AnalysisTemplate of another namespace is not found", () => {
    const elsewhere = { ...success, metadata: { ...success.metadata, namespace: "other" } };
    expect(problemOf(resolve({ templates: [{ name: "success" }] }, elsewhere))?.reason).toBe(
      "TemplateNotFound",
    );
  });

  it("a kind the cluster does not serve says so", () => {
    const r = resolveTemplates(specWith({ templates: [{ name: "success" }] }), NS, {
      list: () => undefined,
    });
    expect(problemOf(r)).toEqual({
      reason: "TemplateNotFound",
      message:
        "AnalysisTemplate shop/success does not exist: the cluster serves no AnalysisTemplates (install crds/)",
    });
  });

  it("an arg given but not declared is refused with those declared", () => {
    const r = resolve(
      {
        templates: [
          { name: "latency", clusterScope: true, args: { service: "a", team: "b", region: "eu" } },
        ],
      },
      latency,
    );
    expect(problemOf(r)).toEqual({
      reason: "TemplateInvalid",
      message:
        "ClusterAnalysisTemplate latency: the Rollout gives region, which it does not declare (its args: service, team, quantile)",
    });
  });

  it("an arg declared without a default and not given is refused", () => {
    const r = resolve(
      { templates: [{ name: "latency", clusterScope: true, args: { team: "x" } }] },
      latency,
    );
    expect(problemOf(r)).toEqual({
      reason: "TemplateInvalid",
      message:
        "ClusterAnalysisTemplate latency: arg service has no default, and the Rollout gives no value",
    });
  });

  it("an {{args.x}} the template does not declare is refused with the args it does", () => {
    const spec = latency.spec as { args: unknown[] };
    const undeclared = {
      ...latency,
      spec: { ...spec, args: spec.args.filter((a) => (a as { name: string }).name !== "team") },
    };
    const r = resolve(
      { templates: [{ name: "latency", clusterScope: true, args: { service: "cart" } }] },
      undeclared,
    );
    expect(problemOf(r)).toEqual({
      reason: "TemplateInvalid",
      message:
        "ClusterAnalysisTemplate latency: webhooks[0].url uses {{args.team}}; the args are {{args.service}}, {{args.quantile}}",
    });
  });

  it("a variable the provider does not fill is refused at resolution, with those it does", () => {
    const typo = {
      ...success,
      spec: {
        metrics: [
          {
            name: "errors",
            thresholdRange: { max: 1 },
            provider: { type: "prometheus", query: 'sum(errors{app="{{ targte }}"})' },
          },
        ],
      },
    };
    expect(problemOf(resolve({ templates: [{ name: "success" }] }, typo))).toEqual({
      reason: "TemplateInvalid",
      message:
        "AnalysisTemplate shop/success: metrics[0].provider.query: the query uses {{targte}}; the variables are {{namespace}}, {{target}}, {{canary}}, {{interval}}",
    });
  });

  it("a webhook whose filled URL is not an http(s) URL is refused", () => {
    const r = resolve(
      {
        templates: [
          { name: "latency", clusterScope: true, args: { service: "a b", team: "shop" } },
        ],
      },
      latency,
    );
    expect(problemOf(r)).toMatchObject({
      reason: "TemplateInvalid",
      message: "ClusterAnalysisTemplate latency: webhooks[0]: url: must be an http(s) URL",
    });
  });

  it("a template that fails its schema is TemplateInvalid, naming the field", () => {
    const bad = {
      ...success,
      spec: { metrics: [{ name: "Bad Name", thresholdRange: { min: 1 } }] },
    };
    expect(problemOf(resolve({ templates: [{ name: "success" }] }, bad))).toMatchObject({
      reason: "TemplateInvalid",
      message: expect.stringMatching(/^AnalysisTemplate shop\/success: spec: metrics\[0\]\.name: /),
    });
  });

  it("a name taken by the Rollout and a template, or by two templates, is a conflict saying where from", () => {
    expect(
      problemOf(
        resolve(
          {
            metrics: [{ name: "request-success-rate", thresholdRange: { min: 90 } }],
            templates: [{ name: "success" }],
          },
          success,
        ),
      ),
    ).toEqual({
      reason: "TemplateConflict",
      message:
        "names must be unique across the Rollout and its templates: request-success-rate is the Rollout's metric and a metric of AnalysisTemplate success",
    });
    const twin: TemplateObject = { ...success, kind: "ClusterAnalysisTemplate" };
    expect(
      problemOf(
        resolve(
          { templates: [{ name: "success" }, { name: "success", clusterScope: true }] },
          success,
          twin,
        ),
      )?.message,
    ).toContain(
      "request-success-rate is a metric of AnalysisTemplate success and a metric of ClusterAnalysisTemplate success",
    );
  });

  it("a template edited is read at its new generation", () => {
    const edited = { ...success, metadata: { ...success.metadata, generation: 2 } };
    const r = resolve({ templates: [{ name: "success" }] }, edited);
    expect(r.ok && r.sources.get("request-success-rate")).toEqual({
      kind: "AnalysisTemplate",
      name: "success",
      generation: 2,
    });
  });
});

describe("a check's results name the template that judged them", () => {
  const source = { kind: "AnalysisTemplate" as const, name: "success", generation: 4 };
  const sources = new Map([
    ["request-success-rate", source],
    ["p50", source],
  ]);

  it("a template's metric carries the template and generation; the Rollout's own does not", () => {
    expect(
      attributed(
        [
          { name: "request-success-rate", outcome: "passed", value: 100 },
          { name: "mine", outcome: "failed" },
        ],
        sources,
      ),
    ).toEqual([
      { name: "request-success-rate", outcome: "passed", value: 100, template: source },
      { name: "mine", outcome: "failed" },
    ]);
  });

  it("each compared metric of the score carries its own template", () => {
    const [score] = attributed(
      [
        {
          name: "canary-score",
          outcome: "passed",
          compared: [
            { name: "p50", classification: "Pass", bad: false },
            { name: "own", classification: "Pass", bad: false },
          ],
        },
      ],
      sources,
    );
    expect(score?.compared).toEqual([
      { name: "p50", classification: "Pass", bad: false, template: source },
      { name: "own", classification: "Pass", bad: false },
    ]);
  });
});

describe("the Rollouts each template wakes", () => {
  const rolloutNaming = (name: string, templates: unknown[]): RolloutObject => ({
    metadata: {
      name,
      namespace: NS,
      uid: name,
      generation: 1,
      resourceVersion: "1",
      annotations: {},
      finalizers: [],
    },
    spec: { analysis: { templates } },
    status: undefined,
    history: { length: 0 },
  });

  it("indexes Rollouts by the templates they name, and forgets what they no longer name", () => {
    const users = new TemplateUsers();
    users.rolloutChanged("ADDED", rolloutNaming("a", [{ name: "latency", clusterScope: true }]));
    users.rolloutChanged(
      "ADDED",
      rolloutNaming("b", [{ name: "latency", clusterScope: true }, { name: "success" }]),
    );
    expect(users.of(latency).sort()).toEqual([`${NS}/a`, `${NS}/b`]);
    expect(users.of(success)).toEqual([`${NS}/b`]);
    expect(users.of({ ...success, metadata: { ...success.metadata, namespace: "other" } })).toEqual(
      [],
    );
    users.rolloutChanged("MODIFIED", rolloutNaming("b", [{ name: "success" }]));
    expect(users.of(latency)).toEqual([`${NS}/a`]);
    users.rolloutChanged("DELETED", rolloutNaming("a", []));
    expect(users.of(latency)).toEqual([]);
  });
});
