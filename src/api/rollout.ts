import { z } from "zod";
import {
  Condition,
  cel,
  DnsLabel,
  DnsSubdomain,
  durationAtLeast,
  HttpUrl,
  IntOrString,
  ObjectMeta,
  Port,
} from "./common.ts";
import { HTTP_METHODS } from "./smi.ts";

export const GROUP = "fledge.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const KIND = "Rollout";
export const PLURAL = "rollouts";

/** The metrics Fledge knows how to read from every provider without a query of the user's. */
export const BUILTIN_METRICS = [
  "request-success-rate",
  "request-duration-p50-ms",
  "request-duration-p90-ms",
  "request-duration-p99-ms",
] as const;

export const TargetRef = z
  .object({
    apiVersion: z.literal("apps/v1").default("apps/v1").meta({ description: "Always apps/v1." }),
    kind: z.literal("Deployment").default("Deployment").meta({ description: "Always Deployment." }),
    name: DnsSubdomain.meta({
      description: "The Deployment whose new revisions Fledge rolls out.",
    }),
  })
  .meta({ description: "The app, a Deployment in the Rollout's namespace, as you deploy it." });

export const AutoscalerRef = z.object({
  apiVersion: z
    .literal("autoscaling/v2")
    .default("autoscaling/v2")
    .meta({ description: "Always autoscaling/v2." }),
  kind: z
    .literal("HorizontalPodAutoscaler")
    .default("HorizontalPodAutoscaler")
    .meta({ description: "Always HorizontalPodAutoscaler." }),
  name: DnsSubdomain.meta({
    description:
      "The HorizontalPodAutoscaler of the target Deployment; Fledge gives the primary one like it, named <name>-primary.",
  }),
});
export type AutoscalerRef = z.infer<typeof AutoscalerRef>;

export const ServiceSpec = z
  .object({
    port: Port.meta({ description: "The port the apex, primary and canary Services expose." }),
    targetPort: IntOrString.optional().meta({
      description: "The container port (number or name) traffic goes to; defaults to port.",
    }),
    portName: DnsLabel.default("http").meta({
      description: "The name of the Services' port, an RFC 1123 label; defaults to http.",
    }),
    name: DnsLabel.optional().meta({
      description: "The apex Service clients call; defaults to the target Deployment's name.",
    }),
  })
  .meta({
    description:
      "The Services Fledge makes: the apex (name), <name>-primary and <name>-canary, on one port.",
  });

export const Step = z
  .object({
    setWeight: z.int().min(0).max(100).optional().meta({
      description:
        "Send this percentage of traffic to the canary. With analysis metrics, the weight is held until a check at it passes.",
    }),
    setMirror: z.int().min(0).max(100).optional().meta({
      description:
        "Copy this percentage of requests to the canary, whose answers are dropped: every response still comes from the primary, so the canary is judged on real traffic before it serves anyone. Mirroring lasts until the next setWeight step or the end of the rollout; 0 stops it. Needs a router that can mirror (gatewayAPI).",
    }),
    pause: z
      .object({
        duration: durationAtLeast("1s").optional().meta({
          description:
            "How long to hold (at least 1s); without it the rollout waits until a person resumes it.",
        }),
      })
      .optional()
      .meta({
        description:
          "Hold for a duration, or without one until a person resumes (kubectl fledge resume).",
      }),
    analysis: z
      .object({
        passes: z.int().min(1).max(1000).default(1).meta({
          description:
            "Consecutive passing checks needed before the next step (1 to 1000; defaults to 1).",
        }),
      })
      .optional()
      .meta({
        description: "Hold for passes consecutive passing checks.",
      }),
  })
  // Each CEL rule has a zod twin beside it: the controller judges a cluster whose CRD is older
  // than the rule, and `kubectl fledge lint` judges offline, with this one schema.
  .refine(
    (s) =>
      [s.setWeight, s.setMirror, s.pause, s.analysis].filter((x) => x !== undefined).length === 1,
    { error: "a step has exactly one of setWeight, setMirror, pause or analysis" },
  )
  .meta({
    description:
      "One action of the canary's plan: exactly one of setWeight, setMirror, pause or analysis.",
    ...cel({
      rule: "[has(self.setWeight), has(self.setMirror), has(self.pause), has(self.analysis)].filter(x, x).size() == 1",
      message: "a step has exactly one of setWeight, setMirror, pause or analysis",
    }),
  });

export const SecretKeyRef = z.object({
  name: DnsSubdomain.meta({
    description: "The Secret, in the Rollout's namespace, read again at each check.",
  }),
  key: z.string().min(1).meta({ description: "The key in the Secret's data." }),
});

export const PrometheusSettings = z
  .object({
    address: HttpUrl.optional().meta({
      description: "Prometheus base URL; defaults to the controller's --prometheus-address.",
    }),
    authorization: SecretKeyRef.optional().meta({
      description: "A Secret key whose value is sent as the Authorization header.",
    }),
    insecureSkipVerify: z.boolean().optional().meta({
      description: "Skip verification of the server's TLS certificate; verified when omitted.",
    }),
    caSecretRef: SecretKeyRef.optional().meta({
      description: "A Secret key holding a PEM CA bundle.",
    }),
  })
  .meta({
    description:
      "Where Prometheus queries go, with which credentials: a metric's provider.prometheus, else the Rollout's analysis.prometheus, else the controller's --prometheus-address. Credentials are sent only to the address of the block they are in (a block without an address configures the controller's default).",
  });

export const MESHES = ["linkerd", "osm", "envoy"] as const;

export const MetricProvider = z
  .object({
    type: z.enum(["smi", "prometheus"]).default("smi").meta({
      description:
        "smi (the default) reads SMI TrafficMetrics through the apiserver, for the built-in metrics only; prometheus runs the mesh's built-in queries or query.",
    }),
    mesh: z.enum(MESHES).optional().meta({
      description: "Which mesh's metric names the built-in Prometheus queries use.",
    }),
    query: z.string().min(1).optional().meta({
      description:
        "A PromQL template; {{namespace}}, {{target}}, {{canary}} and {{interval}} are replaced.",
    }),
    prometheus: PrometheusSettings.optional(),
  })
  .refine(
    (p) =>
      p.type === "prometheus" ||
      (p.query === undefined && p.prometheus === undefined && p.mesh === undefined),
    { error: "query, mesh and prometheus apply only to type prometheus" },
  )
  .meta({
    description: "Where the metric is read; defaults to { type: smi }.",
    ...cel({
      rule: "self.type == 'prometheus' || (!has(self.query) && !has(self.prometheus) && !has(self.mesh))",
      message: "query, mesh and prometheus apply only to type prometheus",
    }),
  });

export const ThresholdRange = z
  .object({
    min: z.number().optional().meta({
      description: "The lowest passing value, in the metric's unit; no lower bound when omitted.",
    }),
    max: z.number().optional().meta({
      description: "The highest passing value, in the metric's unit; no upper bound when omitted.",
    }),
  })
  .refine((r) => r.min !== undefined || r.max !== undefined, { error: "set min, max or both" })
  .refine((r) => r.min === undefined || r.max === undefined || r.min <= r.max, {
    error: "min must not be greater than max",
  })
  .meta({
    description:
      "A fixed range the metric's value must lie in: a value outside it fails the check (counted toward failureLimit). Units: percent (0..100) for request-success-rate, milliseconds for the request-duration metrics, the query's own for others.",
    ...cel(
      { rule: "has(self.min) || has(self.max)", message: "set min, max or both" },
      {
        rule: "!has(self.min) || !has(self.max) || self.min <= self.max",
        message: "min must not be greater than max",
      },
    ),
  });

export const COMPARE_DIRECTIONS = ["increase-is-bad", "decrease-is-bad", "either"] as const;

/**
 * A metric judged by comparing the canary with the primary over the same window (a two-sided
 * Mann-Whitney U test on their samples) rather than by a fixed threshold.
 */
export const Compare = z
  .object({
    baseline: z.literal("primary").default("primary").meta({
      description: "What the canary is compared with: always the primary, over the same window.",
    }),
    direction: z.enum(COMPARE_DIRECTIONS).default("increase-is-bad").meta({
      description:
        "Which difference from the primary is bad: increase-is-bad (the default), decrease-is-bad or either.",
    }),
    tolerance: z.number().min(0).max(1000).default(10).meta({
      description:
        "How far (percent of the primary's median, 0 to 1000; defaults to 10) the canary may shift in the bad direction before it counts.",
    }),
    weight: z.number().gt(0).max(100).default(1).meta({
      description:
        "The metric's share of the score, relative to the other compared metrics (above 0, at most 100; defaults to 1).",
    }),
    step: durationAtLeast("1s").optional().meta({
      description:
        "The spacing of the samples read for each side; defaults to two scrape intervals, so that each sample's rate() has data.",
    }),
  })
  .meta({
    description:
      "Judge the metric by comparing the canary with the primary over the same window (a two-sided Mann-Whitney U test on their samples) instead of a threshold; needs provider.type prometheus.",
  });
export type Compare = z.infer<typeof Compare>;

/** The results Fledge adds to a check beside the metrics' and webhooks': no metric or webhook may take their names. */
export const RESULT_NAMES = { score: "canary-score", weight: "traffic-weight" } as const;
const RESERVED_NAMES: readonly string[] = Object.values(RESULT_NAMES);
const reservedMessage = `${RESERVED_NAMES.join(" and ")} name Fledge's own results in a check`;

/** A metric's or webhook's name, which its results in status are found by. */
const ResultName = DnsLabel.refine((name) => !RESERVED_NAMES.includes(name), {
  error: reservedMessage,
}).meta({
  description:
    "The name its results are found by in status.metrics: a lowercase RFC 1123 label, unique among the metrics and webhooks, and neither canary-score nor traffic-weight.",
  ...cel({
    rule: `!(self in [${RESERVED_NAMES.map((n) => `'${n}'`).join(", ")}])`,
    message: reservedMessage,
  }),
});

export const Metric = z
  .object({
    name: ResultName,
    thresholdRange: ThresholdRange.optional(),
    compare: Compare.optional(),
    provider: MetricProvider.default({ type: "smi" }),
  })
  .refine(
    (m) =>
      (BUILTIN_METRICS as readonly string[]).includes(m.name) || m.provider.query !== undefined,
    { error: `a metric other than ${BUILTIN_METRICS.join(", ")} needs provider.query` },
  )
  .refine((m) => (m.thresholdRange === undefined) !== (m.compare === undefined), {
    error: "a metric has exactly one of thresholdRange or compare",
  })
  .refine((m) => m.compare === undefined || m.provider.type === "prometheus", {
    error: "compare reads samples over time from Prometheus: it needs provider.type prometheus",
  })
  .meta({
    description:
      "A metric read at every check, judged by exactly one of thresholdRange or compare. Built-in names: request-success-rate, request-duration-p50-ms, request-duration-p90-ms, request-duration-p99-ms; any other needs provider.query.",
    ...cel(
      {
        rule: `self.name in [${BUILTIN_METRICS.map((m) => `'${m}'`).join(", ")}] || has(self.provider.query)`,
        message: `a metric other than ${BUILTIN_METRICS.join(", ")} needs provider.query`,
      },
      {
        rule: "has(self.thresholdRange) != has(self.compare)",
        message: "a metric has exactly one of thresholdRange or compare",
      },
      {
        rule: "!has(self.compare) || self.provider.type == 'prometheus'",
        message:
          "compare reads samples over time from Prometheus: it needs provider.type prometheus",
      },
    ),
  });

export const WEBHOOK_TYPES = [
  "pre-rollout",
  "rollout",
  "confirm-promotion",
  "post-rollout",
  "rollback",
  "event",
] as const;

export const Webhook = z
  .object({
    name: ResultName,
    type: z.enum(WEBHOOK_TYPES).default("rollout").meta({
      description:
        "pre-rollout gates the first traffic, rollout is a check at every interval, confirm-promotion holds promotion until it passes, post-rollout and rollback are told of the outcome, event receives every Event. Defaults to rollout.",
    }),
    url: HttpUrl.meta({ description: "The http(s) URL the JSON POST goes to." }),
    timeout: durationAtLeast("100ms").default("10s").meta({
      description:
        "How long to wait for an answer (at least 100ms; 10s when omitted): none within it is an error, never a failure.",
    }),
    metadata: z
      .record(z.string(), z.string().meta({ description: "A value, sent as it is written." }))
      .optional()
      .meta({
        description:
          "Strings sent as the body's metadata; an event webhook's also carries eventType, eventReason and eventMessage.",
      }),
  })
  .meta({
    description:
      "A JSON POST of {name, namespace, phase, step, weight, type, metadata}: any 2xx answer passes, another fails, none within timeout is an error.",
  });

export const TEMPLATE_KINDS = ["AnalysisTemplate", "ClusterAnalysisTemplate"] as const;
export type TemplateKind = (typeof TEMPLATE_KINDS)[number];

/** Which template, at which generation, a metric or webhook of a rollout came from. */
export const TemplateSource = z.object({
  kind: z
    .enum(TEMPLATE_KINDS)
    .meta({ description: "AnalysisTemplate or ClusterAnalysisTemplate." }),
  name: z.string().meta({ description: "The template's name." }),
  generation: z.int().min(0).meta({
    description: "The template's metadata.generation when it judged the check.",
  }),
});
export type TemplateSource = z.infer<typeof TemplateSource>;

/** An argument's name as `{{args.name}}` refers to it. */
export const ArgName = z
  .string()
  .min(1)
  .max(63)
  .regex(/^[A-Za-z_][A-Za-z0-9_-]*$/, {
    error: "must start with a letter or _ and hold only letters, digits, _ and -",
  });

/** A Rollout's use of a template: which one, and the values of its arguments. */
export const TemplateRef = z
  .object({
    name: DnsSubdomain.meta({ description: "The template's name." }),
    clusterScope: z.boolean().default(false).meta({
      description:
        "A ClusterAnalysisTemplate when true; otherwise an AnalysisTemplate in the Rollout's namespace.",
    }),
    args: z
      .record(ArgName, z.string().meta({ description: "The argument's value." }))
      .optional()
      .meta({
        description: "Values for the template's args; an arg with a default may be left out.",
      }),
  })
  .meta({ description: "A template whose metrics and webhooks are added to the Rollout's." });
export type TemplateRef = z.infer<typeof TemplateRef>;

export const Analysis = z
  .object({
    interval: durationAtLeast("1s").default("1m").meta({
      description:
        "How often metrics are checked: at least 1s; defaults to 1m, which is also each metric's window.",
    }),
    failureLimit: z.int().min(1).default(3).meta({
      description:
        "Failed checks (a value outside its threshold) that roll the canary back; at least 1, defaults to 3.",
    }),
    errorLimit: z.int().min(1).default(5).meta({
      description:
        "Consecutive checks whose metric could not be read that roll the canary back; errors never count as failures. At least 1; defaults to 5.",
    }),
    inconclusiveLimit: z.int().min(1).default(5).meta({
      description:
        "Consecutive inconclusive checks (too little data) that pause the rollout; at least 1, defaults to 5.",
    }),
    minRequestCount: z.int().min(0).default(10).meta({
      description:
        "Requests the canary must have served in the window for a check to count (defaults to 10); it does not apply to a provider.query metric, whose request count is unknown.",
    }),
    prometheus: PrometheusSettings.optional(),
    metrics: z.array(Metric).max(20).default([]).meta({
      description:
        "The metrics read at every check (at most 20); a check is as bad as its worst result.",
    }),
    scoreThresholds: z
      .object({
        pass: z.number().min(0).max(100).default(95).meta({
          description: "The score (0..100) at or above which a check passes; defaults to 95.",
        }),
        marginal: z.number().min(0).max(100).default(75).meta({
          description:
            "The score (0..100) below which a check fails; between it and pass is inconclusive. Defaults to 75.",
        }),
      })
      .refine((t) => t.marginal <= t.pass, { error: "marginal must not be above pass" })
      .default({ pass: 95, marginal: 75 })
      .meta({
        description:
          "For compared metrics: a score (the weighted share that pass) at or above pass passes the check, below marginal fails it, between is inconclusive.",
        ...cel({ rule: "self.marginal <= self.pass", message: "marginal must not be above pass" }),
      }),
    webhooks: z.array(Webhook).max(20).default([]).meta({
      description:
        "Webhooks called at the moments their type names (at most 20): pre-rollout, rollout, confirm-promotion, post-rollout, rollback, event.",
    }),
    verifyWeight: z.boolean().default(true).meta({
      description:
        "Whether each check compares the canary's observed share of requests (from SMI TrafficMetrics or a mesh's Prometheus metrics) with the weight in effect, holding the step while they disagree. On (true) by default.",
    }),
    templates: z.array(TemplateRef).max(20).default([]).meta({
      description:
        "AnalysisTemplates and ClusterAnalysisTemplates whose metrics and webhooks are added to these.",
    }),
  })
  .meta({
    description:
      "How the canary is judged: a check every interval of the metrics and rollout webhooks, and the limits that roll back or pause.",
  });

export const SMI_SPLIT_VERSIONS = [
  "split.smi-spec.io/v1alpha1",
  "split.smi-spec.io/v1alpha2",
  "split.smi-spec.io/v1alpha3",
  "split.smi-spec.io/v1alpha4",
] as const;

/**
 * One A/B match as a person writes it: `headers` is one map of header name to value regex, all of
 * which must hold. The HTTPRouteGroup Fledge writes from it lists each header as a filter of its
 * own (SMI's wire shape, whose filters also must all hold), so the two say the same thing.
 */
export const HeaderMatch = z
  .object({
    name: DnsLabel.meta({ description: "The match's name, an RFC 1123 label." }),
    headers: z
      .record(
        z.string(),
        z.string().meta({ description: "A regex the header's value must match." }),
      )
      .optional()
      .meta({ description: "Header name to value regex; all must hold." }),
    pathRegex: z.string().optional().meta({ description: "A regex the request path must match." }),
    methods: z
      .array(z.enum(HTTP_METHODS).meta({ description: '"*" (any) or an HTTP method.' }))
      .optional()
      .meta({ description: "The HTTP methods that match; any when omitted." }),
  })
  .meta({ description: "Requests that go to the canary: all of headers, pathRegex and methods." });

export const SmiRouting = z
  .object({
    apiVersion: z
      .enum(["auto", ...SMI_SPLIT_VERSIONS])
      .default("auto")
      .meta({
        description: "The TrafficSplit version to write; auto picks the newest the cluster serves.",
      }),
    matches: z.array(HeaderMatch).max(16).optional().meta({
      description:
        "A/B routing: only requests matching these HTTPRouteGroup matches go to the canary.",
    }),
  })
  .refine(
    (r) =>
      r.matches === undefined ||
      !["split.smi-spec.io/v1alpha1", "split.smi-spec.io/v1alpha2"].includes(r.apiVersion),
    { error: "matches need TrafficSplit v1alpha3 or v1alpha4" },
  )
  .meta({
    description: "Route by an SMI TrafficSplit named after the apex Service (the default router).",
    ...cel({
      rule: "!has(self.matches) || self.apiVersion in ['auto', 'split.smi-spec.io/v1alpha3', 'split.smi-spec.io/v1alpha4']",
      message: "matches need TrafficSplit v1alpha3 or v1alpha4",
    }),
  });

export type SmiRouting = z.infer<typeof SmiRouting>;

export const GATEWAY_GROUP = "gateway.networking.k8s.io";
export const GATEWAY_ROUTE_VERSIONS = [`${GATEWAY_GROUP}/v1beta1`, `${GATEWAY_GROUP}/v1`] as const;

/** A Gateway API parentRef: the Service a GAMMA mesh routes for, or a Gateway. */
export const ParentRef = z
  .object({
    group: z
      .string()
      .max(253)
      .optional()
      .meta({
        description: `"" (core) for a Service, ${GATEWAY_GROUP} for a Gateway; defaults by kind.`,
      }),
    kind: z.enum(["Service", "Gateway"]).default("Service").meta({
      description: "Service (the default) or Gateway.",
    }),
    name: DnsSubdomain.meta({ description: "The parent's name." }),
    namespace: DnsLabel.optional().meta({
      description: "The parent's namespace; defaults to the Rollout's.",
    }),
    sectionName: DnsLabel.optional().meta({
      description:
        "A listener of a Gateway (or a port name of a Service) to attach to; all when omitted.",
    }),
    port: Port.optional().meta({
      description: "The parent's port to attach to; all when omitted.",
    }),
  })
  .meta({ description: "A parent of the route, as a Gateway API parentRef." });
export type ParentRef = z.infer<typeof ParentRef>;

export const GatewayRouting = z
  .object({
    apiVersion: z
      .enum(["auto", ...GATEWAY_ROUTE_VERSIONS])
      .default("auto")
      .meta({
        description:
          "The HTTPRoute version to write; auto picks v1, or v1beta1 on a cluster that serves only it and whose schema has the fields the rollout needs.",
      }),
    httpRoute: DnsSubdomain.optional().meta({
      description:
        "An existing HTTPRoute to steer, of which Fledge edits only the rule that sends to the apex Service; without it Fledge makes and owns a route named after the apex Service.",
    }),
    parentRefs: z.array(ParentRef).min(1).max(32).optional().meta({
      description:
        "The parents of the route Fledge makes; defaults to the apex Service (mesh traffic, the GAMMA profile).",
    }),
    matches: z.array(HeaderMatch).max(16).optional().meta({
      description:
        "A/B routing: only requests matching one of these go by the steps' weights; all others stay on the primary.",
    }),
  })
  .refine((r) => r.httpRoute === undefined || r.parentRefs === undefined, {
    error: "parentRefs apply to the route Fledge makes; an existing httpRoute keeps its own",
  })
  .meta({
    description: "Route by a Gateway API HTTPRoute, which can also mirror (setMirror).",
    ...cel({
      rule: "!has(self.httpRoute) || !has(self.parentRefs)",
      message: "parentRefs apply to the route Fledge makes; an existing httpRoute keeps its own",
    }),
  });

export type GatewayRouting = z.infer<typeof GatewayRouting>;

export const TrafficRouting = z
  .object({
    smi: SmiRouting.optional(),
    gatewayAPI: GatewayRouting.optional(),
  })
  // The controller judges this too, for a cluster whose CRD is older than the rule.
  .refine((r) => (r.smi === undefined) !== (r.gatewayAPI === undefined), {
    error: "trafficRouting takes exactly one of smi or gatewayAPI",
  })
  .meta(
    cel({
      rule: "has(self.smi) != has(self.gatewayAPI)",
      message: "trafficRouting takes exactly one of smi or gatewayAPI",
    }),
  );
export type TrafficRouting = z.infer<typeof TrafficRouting>;

/** The A/B matches of whichever router the spec names. */
export const routingMatches = (routing: TrafficRouting): HeaderMatch[] | undefined =>
  (routing.smi ?? routing.gatewayAPI)?.matches;

const STRATEGY_MESSAGES = {
  noSteps: "a canary rollout needs at least one step",
  blueGreenSteps:
    "a blueGreen rollout takes no steps: its preview, switch and retirement are set by blueGreen",
  settingsWithoutStrategy: "blueGreen settings need strategy: blueGreen",
};

const MIRROR_ON_SMI =
  "setMirror steps need trafficRouting.gatewayAPI: an SMI TrafficSplit cannot mirror";

/** The strategy's rules, the CEL's own, for a cluster whose CRD is older than them. */
function strategyProblem(spec: {
  strategy: (typeof STRATEGIES)[number];
  steps: unknown[];
  blueGreen?: unknown;
}): { field: string; message: string } | undefined {
  if (spec.strategy === "canary" && spec.steps.length === 0)
    return { field: "steps", message: STRATEGY_MESSAGES.noSteps };
  if (spec.strategy === "blueGreen" && spec.steps.length > 0)
    return { field: "steps", message: STRATEGY_MESSAGES.blueGreenSteps };
  if (spec.blueGreen !== undefined && spec.strategy !== "blueGreen")
    return { field: "blueGreen", message: STRATEGY_MESSAGES.settingsWithoutStrategy };
  return undefined;
}

export const STRATEGIES = ["canary", "blueGreen"] as const;

export const BlueGreen = z.object({
  autoPromotion: z.boolean().default(true).meta({
    description:
      "Switch once the preview's checks pass; false holds the preview until a person promotes (or resumes) it. Defaults to true.",
  }),
  previewChecks: z.int().min(1).max(1000).default(1).meta({
    description:
      "Passing checks, on the preview's own traffic, before the switch: needs analysis metrics or rollout webhooks, else none are asked. 1 to 1000; defaults to 1.",
  }),
  scaleDownDelaySeconds: z.int().min(0).max(86400).default(30).meta({
    description:
      "How long after the switch the old version keeps running, its pods ready to take all traffic back in one write should a check fail or a person abort; then the primary takes the new revision. 0 to 86400; defaults to 30.",
  }),
});
export type BlueGreen = z.infer<typeof BlueGreen>;

export const RolloutSpec = z
  .object({
    targetRef: TargetRef,
    service: ServiceSpec,
    autoscalerRef: AutoscalerRef.optional().meta({
      description:
        "The HorizontalPodAutoscaler (autoscaling/v2) that scales the target. Fledge keeps an equal one on the primary and leaves both Deployments' replicas to the autoscalers, writing only the canary's scale to and from 0.",
    }),
    strategy: z.enum(STRATEGIES).default("canary").meta({
      description:
        "canary: traffic moves to the new revision by the steps. blueGreen: the new revision runs beside the old one at the primary's scale, is judged through the canary Service (the preview) while the apex sends it nothing, then takes all traffic in one write. Defaults to canary.",
    }),
    steps: z
      .array(Step)
      .max(100)
      .default([])
      .meta({ description: "The canary's plan, in order; a blueGreen rollout has none." }),
    blueGreen: BlueGreen.optional().meta({
      description: "The blueGreen strategy's settings; its defaults when omitted.",
    }),
    analysis: Analysis.default({
      interval: "1m",
      failureLimit: 3,
      errorLimit: 5,
      inconclusiveLimit: 5,
      minRequestCount: 10,
      metrics: [],
      scoreThresholds: { pass: 95, marginal: 75 },
      webhooks: [],
      verifyWeight: true,
      templates: [],
    }),
    progressDeadlineSeconds: z.int().min(1).default(600).meta({
      description:
        "Seconds a canary (or promoted primary) may take to become ready before the rollout is rolled back; defaults to 600.",
    }),
    trafficRouting: TrafficRouting.default({ smi: { apiVersion: "auto" } }).meta({
      description:
        "How traffic reaches the canary: exactly one of smi or gatewayAPI; SMI when omitted.",
    }),
  })
  .superRefine((spec, ctx) => {
    const problem = strategyProblem(spec);
    if (problem) ctx.addIssue({ code: "custom", message: problem.message, path: [problem.field] });
    if (spec.trafficRouting.smi && spec.steps.some((s) => s.setMirror !== undefined))
      ctx.addIssue({ code: "custom", message: MIRROR_ON_SMI, path: ["steps"] });
  })
  .meta(
    cel(
      // The controller judges this again against the router it finds (a Gateway API version whose
      // schema cannot mirror a share), and for a cluster whose CRD is older than the rule.
      {
        rule: "!has(self.trafficRouting.smi) || !self.steps.exists(s, has(s.setMirror))",
        message: MIRROR_ON_SMI,
        fieldPath: ".steps",
      },
      {
        rule: "self.strategy != 'canary' || size(self.steps) > 0",
        message: STRATEGY_MESSAGES.noSteps,
        fieldPath: ".steps",
      },
      {
        rule: "self.strategy != 'blueGreen' || size(self.steps) == 0",
        message: STRATEGY_MESSAGES.blueGreenSteps,
        fieldPath: ".steps",
      },
      {
        rule: "!has(self.blueGreen) || self.strategy == 'blueGreen'",
        message: STRATEGY_MESSAGES.settingsWithoutStrategy,
        fieldPath: ".blueGreen",
      },
    ),
  );
export type RolloutSpec = z.infer<typeof RolloutSpec>;
export type Step = z.infer<typeof Step>;
export type Metric = z.infer<typeof Metric>;
export type Webhook = z.infer<typeof Webhook>;
export type HeaderMatch = z.infer<typeof HeaderMatch>;

export const PHASES = [
  "Initializing",
  "Healthy",
  "Progressing",
  "Paused",
  "Promoting",
  "RollingBack",
  "Failed",
  "Aborted",
] as const;
export const Phase = z.enum(PHASES);
export type Phase = z.infer<typeof Phase>;

export const CHECK_OUTCOMES = ["passed", "failed", "errored", "inconclusive"] as const;
export const CheckOutcome = z.enum(CHECK_OUTCOMES);
export type CheckOutcome = z.infer<typeof CheckOutcome>;

export const CLASSIFICATIONS = ["Pass", "High", "Low", "NoData"] as const;

/** One compared metric's part in a check: its class, the test's p-value, the relative shift. */
export const ComparedStatus = z
  .object({
    name: z.string().meta({ description: "The compared metric's name." }),
    classification: z.enum(CLASSIFICATIONS).meta({
      description:
        "High or Low: a significant shift (p < 0.05) beyond tolerance on that side; Pass otherwise; NoData with fewer than 3 samples on either side.",
    }),
    bad: z.boolean().meta({ description: "Whether the class is the bad one for its direction." }),
    template: TemplateSource.optional().meta({
      description: "The template, at its generation, this compared metric came from.",
    }),
    p: z.number().optional().meta({ description: "The Mann-Whitney U test's two-sided p-value." }),
    relative: z
      .object({
        estimate: z.number().meta({ description: "The Hodges-Lehmann estimate of the shift." }),
        lower: z.number().meta({ description: "The lower end of its 95% confidence interval." }),
        upper: z.number().meta({ description: "The upper end of its 95% confidence interval." }),
      })
      .optional()
      .meta({
        description:
          "The canary's shift from the primary, as a fraction of the primary's median (0.18 is +18%).",
      }),
  })
  .meta({ description: "One compared metric's part in the canary-score check." });

export const MetricStatus = z
  .object({
    name: z.string().meta({
      description:
        "The metric's or webhook's name, or canary-score or traffic-weight for Fledge's own results.",
    }),
    outcome: CheckOutcome.meta({ description: "passed, failed, errored or inconclusive." }),
    template: TemplateSource.optional().meta({
      description: "The template, at its generation, whose metric or webhook this check judged.",
    }),
    compared: z.array(ComparedStatus).optional().meta({
      description: "For canary-score: each compared metric's class, p-value and shift.",
    }),
    value: z.number().optional().meta({
      description: "The value read (for canary-score, the score 0..100), in the metric's unit.",
    }),
    requests: z.number().optional().meta({
      description: "The canary's requests in the window, where the provider counts them.",
    }),
    message: z.string().optional().meta({ description: "Why the result is what it is." }),
    checkedAt: z.string().meta({ description: "When the check ran (RFC 3339)." }),
  })
  .meta({ description: "One result of the last check." });

export const PAUSE_REASONS = ["Step", "Person", "Inconclusive"] as const;
export const PauseReason = z
  .object({
    reason: z.enum(PAUSE_REASONS).meta({
      description:
        "Step (a pause step), Person (the pause annotation) or Inconclusive (inconclusiveLimit reached).",
    }),
    since: z.string().meta({ description: "When the pause began (RFC 3339)." }),
    until: z.string().optional().meta({
      description: "When a timed pause ends (RFC 3339); absent for one a person must resume.",
    }),
    message: z.string().optional().meta({ description: "More about the pause." }),
  })
  .meta({ description: "One reason the rollout is paused, and since when." });

/** One-shot actions carry a value that changes each time; status keeps the last value applied. */
export const ONE_SHOT_ACTIONS = ["resume", "promote", "promoteFull", "abort", "retry"] as const;
export type OneShotAction = (typeof ONE_SHOT_ACTIONS)[number];
/** Annotations a person (or the CLI) sets on a Rollout to steer it. */
export const ANNOTATIONS = {
  pause: `${GROUP}/pause`,
  resume: `${GROUP}/resume`,
  promote: `${GROUP}/promote`,
  promoteFull: `${GROUP}/promote-full`,
  abort: `${GROUP}/abort`,
  retry: `${GROUP}/retry`,
} as const satisfies Record<OneShotAction | "pause", string>;

export const AppliedActions = z.object(
  Object.fromEntries(
    ONE_SHOT_ACTIONS.map((a) => [
      a,
      z
        .string()
        .optional()
        .meta({
          description: `The value of the ${ANNOTATIONS[a]} annotation the controller last acted on; a new value asks again.`,
        }),
    ]),
  ) as Record<OneShotAction, z.ZodOptional<z.ZodString>>,
);

/**
 * One move or check of a rollout, for the dashboard's timeline: where the rollout stood (phase,
 * step, weight, what held it) after a status write that changed any of those, and the check's
 * results when one was judged.
 */
export const HistoryEntry = z
  .object({
    at: z.string().meta({ description: "When the move or check happened (RFC 3339)." }),
    revision: z.string().optional().meta({ description: "The canary's revision then." }),
    phase: Phase.meta({ description: "The rollout's phase then." }),
    step: z.int().optional().meta({
      description: "The step then, 0-based into spec.steps like currentStepIndex; absent at rest.",
    }),
    weight: z
      .int()
      .min(0)
      .max(100)
      .meta({ description: "The canary's share of traffic then, in percent." }),
    pauses: z
      .array(z.enum(PAUSE_REASONS).meta({ description: "A reason it was paused." }))
      .optional()
      .meta({
        description: "Why it was paused then (Step, Person, Inconclusive); absent when it was not.",
      }),
    checkedAt: z.string().optional().meta({
      description: "When the check this entry records ran (RFC 3339); absent for a move.",
    }),
    checks: z
      .array(
        z
          .object({
            name: z.string().meta({ description: "The metric's or webhook's name." }),
            outcome: CheckOutcome.meta({ description: "How the check judged it." }),
            value: z.number().optional().meta({ description: "The value read, when one was." }),
          })
          .meta({ description: "One metric's or webhook's result in the check." }),
      )
      .optional()
      .meta({ description: "Each result of the check this entry records." }),
  })
  .meta({
    description: "A move of the rollout (revision, phase, step, weight, pause) or a check.",
  });
export type HistoryEntry = z.infer<typeof HistoryEntry>;

export const RolloutStatus = z.object({
  phase: Phase.optional().meta({
    description:
      "Initializing, Healthy, Progressing, Paused, Promoting, RollingBack, Failed or Aborted.",
  }),
  message: z.string().optional().meta({ description: "What the rollout is doing, in a sentence." }),
  observedGeneration: z.int().optional().meta({
    description: "The metadata.generation of the spec this status was written for.",
  }),
  conditions: z.array(Condition).optional().meta({
    description:
      "Ready, Progressing and Paused, and as they apply SpecValid, AnalysisReady, WeightObserved and TrafficRouted.",
  }),
  stableRevision: z.string().optional().meta({
    description: "The revision (a hash of the target's pod template) the primary serves.",
  }),
  canaryRevision: z.string().optional().meta({
    description: "The revision (a hash of the target's pod template) the canary runs.",
  }),
  currentStepIndex: z.int().optional().meta({
    description: "The step in progress, 0-based into spec.steps; absent at rest.",
  }),
  stepCount: z.int().optional().meta({ description: "How many steps the plan has." }),
  step: z.string().optional().meta({
    description: 'The step in progress as people count it, "2/4" (1-based), or "-" at rest.',
  }),
  canaryWeight: z.int().min(0).max(100).optional().meta({
    description: "The percentage of traffic the route sends to the canary.",
  }),
  mirrorPercent: z.int().min(0).max(100).optional().meta({
    description: "The share of requests copied to the canary, whose answers are dropped.",
  }),
  failedChecks: z.int().optional().meta({
    description: "Failed checks of this rollout, toward analysis.failureLimit.",
  }),
  erroredChecks: z.int().optional().meta({
    description: "Consecutive errored checks, toward analysis.errorLimit.",
  }),
  inconclusiveChecks: z.int().optional().meta({
    description: "Consecutive inconclusive checks, toward analysis.inconclusiveLimit.",
  }),
  metrics: z.array(MetricStatus).optional().meta({
    description: "Each result of the last check: its value, request count and outcome.",
  }),
  pauseReasons: z.array(PauseReason).optional().meta({
    description: "Why the rollout is paused, and since when; empty when it is not.",
  }),
  appliedActions: AppliedActions.optional().meta({
    description: "The one-shot annotations' values already acted on, so each acts once.",
  }),
  nextCheckAt: z.string().optional().meta({
    description: "When the next check is due (RFC 3339).",
  }),
  history: z.array(HistoryEntry).optional().meta({
    description:
      "The last moves and checks, oldest first (the controller's --history-limit, 50 unless set): what the dashboard's timeline draws, kept here so a restart or a reload loses none of it.",
  }),
  machine: z.record(z.string(), z.unknown()).optional().meta({
    description: "The rollout state machine's persisted snapshot: the controller resumes from it.",
    "x-kubernetes-preserve-unknown-fields": true,
  }),
});
export type RolloutStatus = z.infer<typeof RolloutStatus>;

export const Rollout = z.object({
  apiVersion: z.literal(API_VERSION),
  kind: z.literal(KIND),
  metadata: ObjectMeta,
  spec: RolloutSpec,
  status: RolloutStatus.optional(),
});
export type Rollout = z.infer<typeof Rollout>;
