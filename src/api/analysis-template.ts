import { z } from "zod";
import { ObjectMeta } from "./common.ts";
import {
  API_VERSION,
  ArgName,
  Metric,
  type TemplateKind,
  type TemplateRef,
  Webhook,
} from "./rollout.ts";

export const TEMPLATE_PLURALS: Record<TemplateKind, string> = {
  AnalysisTemplate: "analysistemplates",
  ClusterAnalysisTemplate: "clusteranalysistemplates",
};

export const TemplateArg = z
  .object({
    name: ArgName.meta({ description: "The argument's name, as {{args.name}} refers to it." }),
    value: z.string().optional().meta({
      description: "The default, used when a Rollout gives none; without it a Rollout must.",
    }),
  })
  .meta({ description: "An argument the template's queries, URLs and metadata refer to." });

/**
 * A template's webhook is the Rollout's but for its URL, which may hold `{{args.x}}` where no
 * URL parser accepts braces (the host, the port): it must be an http(s) URL once they are filled,
 * which the controller judges when a Rollout uses the template.
 */
export const TemplateWebhook = Webhook.extend({
  url: z.string().min(1).meta({
    description: "An http(s) URL once its {{args.x}} are filled.",
  }),
  // extend makes a new schema, without the Webhook's description.
}).meta({ description: Webhook.description });

export const AnalysisTemplateSpec = z.object({
  args: z.array(TemplateArg).max(32).default([]).meta({
    description:
      "The arguments the metrics' queries and the webhooks' URLs and metadata refer to as {{args.name}}.",
  }),
  metrics: z.array(Metric).max(20).default([]).meta({
    description:
      "Metrics, of a Rollout's analysis.metrics shape, added to those of each Rollout that names the template (at most 20).",
  }),
  webhooks: z.array(TemplateWebhook).max(20).default([]).meta({
    description:
      "Webhooks, of a Rollout's analysis.webhooks shape, added to those of each Rollout that names the template (at most 20).",
  }),
});
export type AnalysisTemplateSpec = z.infer<typeof AnalysisTemplateSpec>;

export const templateKindOf = (ref: Pick<TemplateRef, "clusterScope">): TemplateKind =>
  ref.clusterScope ? "ClusterAnalysisTemplate" : "AnalysisTemplate";

/**
 * A template as the cache keeps it: its spec still unparsed, so that an invalid one reaches the
 * Rollouts that use it (which report it) instead of vanishing in the informer.
 */
export type TemplateObject = {
  kind: TemplateKind;
  metadata: { name: string; namespace?: string | undefined; generation: number };
  spec: unknown;
};

const RawTemplate = z.looseObject({
  apiVersion: z.literal(API_VERSION).optional(),
  metadata: ObjectMeta,
  spec: z.unknown(),
});

/** The cache's transform for one kind's informer (its list items need not say their kind). */
export const templateObject =
  (kind: TemplateKind) =>
  (raw: unknown): TemplateObject | undefined => {
    const parsed = RawTemplate.safeParse(raw);
    if (!parsed.success) return undefined;
    const { metadata, spec } = parsed.data;
    return {
      kind,
      metadata: {
        name: metadata.name,
        namespace: metadata.namespace,
        generation: metadata.generation ?? 0,
      },
      spec,
    };
  };
