import { z } from "zod";
import {
  Condition,
  cel,
  DnsLabel,
  DnsSubdomain,
  durationAtLeast,
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

export const TargetRef = z.object({
  apiVersion: z.literal("apps/v1").default("apps/v1"),
  kind: z.literal("Deployment").default("Deployment"),
  name: DnsSubdomain.meta({ description: "The Deployment whose new revisions Fledge rolls out." }),
});

export const AutoscalerRef = z.object({
  apiVersion: z.literal("autoscaling/v2").default("autoscaling/v2"),
  kind: z.literal("HorizontalPodAutoscaler").default("HorizontalPodAutoscaler"),
  name: DnsSubdomain.meta({
    description:
      "The HorizontalPodAutoscaler of the target Deployment; Fledge gives the primary one like it, named <name>-primary.",
  }),
});
export type AutoscalerRef = z.infer<typeof AutoscalerRef>;

export const ServiceSpec = z.object({
  port: Port.meta({ description: "The port the apex, primary and canary Services expose." }),
  targetPort: IntOrString.optional().meta({
    description: "The container port (number or name) traffic goes to; defaults to port.",
  }),
  portName: DnsLabel.default("http"),
  name: DnsLabel.optional().meta({
    description: "The apex Service clients call; defaults to the target Deployment's name.",
  }),
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
          description: "How long to hold; without it the rollout waits until a person resumes it.",
        }),
      })
      .optional(),
    analysis: z
      .object({
        passes: z.int().min(1).max(1000).default(1).meta({
          description: "Consecutive passing checks needed before the next step.",
        }),
      })
      .optional(),
  })
  .meta(
    cel({
      rule: "[has(self.setWeight), has(self.setMirror), has(self.pause), has(self.analysis)].filter(x, x).size() == 1",
      message: "a step has exactly one of setWeight, setMirror, pause or analysis",
    }),
  );

export const SecretKeyRef = z.object({ name: DnsSubdomain, key: z.string().min(1) });

export const PrometheusSettings = z.object({
  address: z
    .url({ protocol: /^https?$/, error: "must be an http(s) URL" })
    .optional()
    .meta({
      description: "Prometheus base URL; defaults to the controller's --prometheus-address.",
    }),
  authorization: SecretKeyRef.optional().meta({
    description: "A Secret key whose value is sent as the Authorization header.",
  }),
  insecureSkipVerify: z.boolean().optional(),
  caSecretRef: SecretKeyRef.optional().meta({
    description: "A Secret key holding a PEM CA bundle.",
  }),
});

export const MESHES = ["linkerd", "osm", "envoy"] as const;

export const MetricProvider = z
  .object({
    type: z.enum(["smi", "prometheus"]).default("smi"),
    mesh: z.enum(MESHES).optional().meta({
      description: "Which mesh's metric names the built-in Prometheus queries use.",
    }),
    query: z.string().min(1).optional().meta({
      description:
        "A PromQL template; {{namespace}}, {{target}}, {{canary}} and {{interval}} are replaced.",
    }),
    prometheus: PrometheusSettings.optional(),
  })
  .meta(
    cel({
      rule: "self.type == 'prometheus' || (!has(self.query) && !has(self.prometheus) && !has(self.mesh))",
      message: "query, mesh and prometheus apply only to type prometheus",
    }),
  );

export const ThresholdRange = z
  .object({ min: z.number().optional(), max: z.number().optional() })
  .meta(
    cel(
      { rule: "has(self.min) || has(self.max)", message: "set min, max or both" },
      {
        rule: "!has(self.min) || !has(self.max) || self.min <= self.max",
        message: "min must not be greater than max",
      },
    ),
  );

export const COMPARE_DIRECTIONS = ["increase-is-bad", "decrease-is-bad", "either"] as const;

/**
 * A metric judged by comparing the canary with the primary over the same window (a two-sided
 * Mann-Whitney U test on their samples) rather than by a fixed threshold.
 */
export const Compare = z.object({
  baseline: z.literal("primary").default("primary"),
  direction: z.enum(COMPARE_DIRECTIONS).default("increase-is-bad").meta({
    description: "Which difference from the primary is bad.",
  }),
  tolerance: z.number().min(0).max(1000).default(10).meta({
    description:
      "How far (percent of the primary's median) the canary may shift in the bad direction before it counts.",
  }),
  weight: z.number().gt(0).max(100).default(1).meta({
    description: "The metric's share of the score, relative to the other compared metrics.",
  }),
  step: durationAtLeast("1s").optional().meta({
    description:
      "The spacing of the samples read for each side; defaults to two scrape intervals, so that each sample's rate() has data.",
  }),
});
export type Compare = z.infer<typeof Compare>;

/** The results Fledge adds to a check beside the metrics' and webhooks': no metric or webhook may take their names. */
export const RESULT_NAMES = { score: "canary-score", weight: "traffic-weight" } as const;
const RESERVED_NAMES: readonly string[] = Object.values(RESULT_NAMES);
const reservedMessage = `${RESERVED_NAMES.join(" and ")} name Fledge's own results in a check`;

/** A metric's or webhook's name, which its results in status are found by. */
const ResultName = DnsLabel.refine((name) => !RESERVED_NAMES.includes(name), {
  error: reservedMessage,
}).meta(
  cel({
    rule: `!(self in [${RESERVED_NAMES.map((n) => `'${n}'`).join(", ")}])`,
    message: reservedMessage,
  }),
);

export const Metric = z
  .object({
    name: ResultName,
    thresholdRange: ThresholdRange.optional(),
    compare: Compare.optional(),
    provider: MetricProvider.default({ type: "smi" }),
  })
  .meta(
    cel(
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
  );

export const WEBHOOK_TYPES = [
  "pre-rollout",
  "rollout",
  "confirm-promotion",
  "post-rollout",
  "rollback",
  "event",
] as const;

export const Webhook = z.object({
  name: ResultName,
  type: z.enum(WEBHOOK_TYPES).default("rollout").meta({
    description:
      "pre-rollout gates the first traffic, rollout is a check at every interval, confirm-promotion holds promotion until it passes, post-rollout and rollback are told of the outcome, event receives every Event.",
  }),
  url: z.url({ protocol: /^https?$/, error: "must be an http(s) URL" }),
  timeout: durationAtLeast("100ms").default("10s"),
  metadata: z.record(z.string(), z.string()).optional(),
});

export const TEMPLATE_KINDS = ["AnalysisTemplate", "ClusterAnalysisTemplate"] as const;
export type TemplateKind = (typeof TEMPLATE_KINDS)[number];

/** Which template, at which generation, a metric or webhook of a rollout came from. */
export const TemplateSource = z.object({
  kind: z.enum(TEMPLATE_KINDS),
  name: z.string(),
  generation: z.int().min(0),
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
export const TemplateRef = z.object({
  name: DnsSubdomain.meta({ description: "The template's name." }),
  clusterScope: z.boolean().default(false).meta({
    description:
      "A ClusterAnalysisTemplate when true; otherwise an AnalysisTemplate in the Rollout's namespace.",
  }),
  args: z.record(ArgName, z.string()).optional().meta({
    description: "Values for the template's args; an arg with a default may be left out.",
  }),
});
export type TemplateRef = z.infer<typeof TemplateRef>;

export const Analysis = z.object({
  interval: durationAtLeast("1s")
    .default("1m")
    .meta({ description: "How often metrics are checked." }),
  failureLimit: z.int().min(1).default(3).meta({
    description: "Failed checks (a value outside its threshold) that roll the canary back.",
  }),
  errorLimit: z.int().min(1).default(5).meta({
    description:
      "Consecutive checks whose metric could not be read that roll the canary back; errors never count as failures.",
  }),
  inconclusiveLimit: z.int().min(1).default(5).meta({
    description: "Consecutive checks without enough data that pause the rollout.",
  }),
  minRequestCount: z.int().min(0).default(10).meta({
    description: "Requests the canary must have served in the window before a check counts.",
  }),
  prometheus: PrometheusSettings.optional(),
  metrics: z.array(Metric).max(20).default([]),
  scoreThresholds: z
    .object({
      pass: z.number().min(0).max(100).default(95),
      marginal: z.number().min(0).max(100).default(75),
    })
    .default({ pass: 95, marginal: 75 })
    .meta({
      description:
        "For compared metrics: a score (the weighted share that pass) at or above pass passes the check, below marginal fails it, between is inconclusive.",
      ...cel({ rule: "self.marginal <= self.pass", message: "marginal must not be above pass" }),
    }),
  webhooks: z.array(Webhook).max(20).default([]),
  verifyWeight: z.boolean().default(true).meta({
    description:
      "Whether each check compares the canary's observed share of requests (from SMI TrafficMetrics or a mesh's Prometheus metrics) with the weight in effect, holding the step while they disagree.",
  }),
  templates: z.array(TemplateRef).max(20).default([]).meta({
    description:
      "AnalysisTemplates and ClusterAnalysisTemplates whose metrics and webhooks are added to these.",
  }),
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
export const HeaderMatch = z.object({
  name: DnsLabel,
  headers: z.record(z.string(), z.string()).optional(),
  pathRegex: z.string().optional(),
  methods: z.array(z.enum(HTTP_METHODS)).optional(),
});

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
  .meta(
    cel({
      rule: "!has(self.matches) || self.apiVersion in ['auto', 'split.smi-spec.io/v1alpha3', 'split.smi-spec.io/v1alpha4']",
      message: "matches need TrafficSplit v1alpha3 or v1alpha4",
    }),
  );

export type SmiRouting = z.infer<typeof SmiRouting>;

export const GATEWAY_GROUP = "gateway.networking.k8s.io";
export const GATEWAY_ROUTE_VERSIONS = [`${GATEWAY_GROUP}/v1beta1`, `${GATEWAY_GROUP}/v1`] as const;

/** A Gateway API parentRef: the Service a GAMMA mesh routes for, or a Gateway. */
export const ParentRef = z.object({
  group: z
    .string()
    .max(253)
    .optional()
    .meta({
      description: `"" (core) for a Service, ${GATEWAY_GROUP} for a Gateway; defaults by kind.`,
    }),
  kind: z.enum(["Service", "Gateway"]).default("Service"),
  name: DnsSubdomain,
  namespace: DnsLabel.optional(),
  sectionName: DnsLabel.optional(),
  port: Port.optional(),
});
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
  .meta(
    cel({
      rule: "!has(self.httpRoute) || !has(self.parentRefs)",
      message: "parentRefs apply to the route Fledge makes; an existing httpRoute keeps its own",
    }),
  );

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
      "Switch once the preview's checks pass; false holds the preview until a person promotes (or resumes) it.",
  }),
  previewChecks: z.int().min(1).max(1000).default(1).meta({
    description:
      "Passing checks, on the preview's own traffic, before the switch: needs analysis metrics or rollout webhooks, else none are asked.",
  }),
  scaleDownDelaySeconds: z.int().min(0).max(86400).default(30).meta({
    description:
      "How long after the switch the old version keeps running, its pods ready to take all traffic back in one write should a check fail or a person abort; then the primary takes the new revision.",
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
        "canary: traffic moves to the new revision by the steps. blueGreen: the new revision runs beside the old one at the primary's scale, is judged through the canary Service (the preview) while the apex sends it nothing, then takes all traffic in one write.",
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
        "How long a canary or primary may take to become ready before the rollout is rolled back.",
    }),
    trafficRouting: TrafficRouting.default({ smi: { apiVersion: "auto" } }).meta({
      description:
        "How traffic reaches the canary: exactly one of smi or gatewayAPI; SMI when omitted.",
    }),
  })
  .superRefine((spec, ctx) => {
    const problem = strategyProblem(spec);
    if (problem) ctx.addIssue({ code: "custom", message: problem.message, path: [problem.field] });
  })
  .meta(
    cel(
      // The controller judges this again against the router it finds (a Gateway API version whose
      // schema cannot mirror a share), and for a cluster whose CRD is older than the rule.
      {
        rule: "!has(self.trafficRouting.smi) || !self.steps.exists(s, has(s.setMirror))",
        message:
          "setMirror steps need trafficRouting.gatewayAPI: an SMI TrafficSplit cannot mirror",
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
export const ComparedStatus = z.object({
  name: z.string(),
  classification: z.enum(CLASSIFICATIONS),
  bad: z.boolean(),
  template: TemplateSource.optional(),
  p: z.number().optional(),
  relative: z.object({ estimate: z.number(), lower: z.number(), upper: z.number() }).optional(),
});

export const MetricStatus = z.object({
  name: z.string(),
  outcome: CheckOutcome,
  template: TemplateSource.optional().meta({
    description: "The template, at its generation, whose metric or webhook this check judged.",
  }),
  compared: z.array(ComparedStatus).optional(),
  value: z.number().optional(),
  requests: z.number().optional(),
  message: z.string().optional(),
  checkedAt: z.string(),
});

export const PAUSE_REASONS = ["Step", "Person", "Inconclusive"] as const;
export const PauseReason = z.object({
  reason: z.enum(PAUSE_REASONS),
  since: z.string(),
  until: z.string().optional(),
  message: z.string().optional(),
});

/** One-shot actions carry a value that changes each time; status keeps the last value applied. */
export const ONE_SHOT_ACTIONS = ["resume", "promote", "promoteFull", "abort", "retry"] as const;
export type OneShotAction = (typeof ONE_SHOT_ACTIONS)[number];
export const AppliedActions = z.object(
  Object.fromEntries(ONE_SHOT_ACTIONS.map((a) => [a, z.string().optional()])) as Record<
    OneShotAction,
    z.ZodOptional<z.ZodString>
  >,
);

/**
 * One move or check of a rollout, for the dashboard's timeline: where the rollout stood (phase,
 * step, weight, what held it) after a status write that changed any of those, and the check's
 * results when one was judged.
 */
export const HistoryEntry = z.object({
  at: z.string(),
  revision: z.string().optional(),
  phase: Phase,
  step: z.int().optional(),
  weight: z.int().min(0).max(100),
  pauses: z.array(z.enum(PAUSE_REASONS)).optional(),
  checkedAt: z.string().optional(),
  checks: z
    .array(z.object({ name: z.string(), outcome: CheckOutcome, value: z.number().optional() }))
    .optional(),
});
export type HistoryEntry = z.infer<typeof HistoryEntry>;

export const RolloutStatus = z.object({
  phase: Phase.optional(),
  message: z.string().optional(),
  observedGeneration: z.int().optional(),
  conditions: z.array(Condition).optional(),
  stableRevision: z.string().optional(),
  canaryRevision: z.string().optional(),
  currentStepIndex: z.int().optional(),
  stepCount: z.int().optional(),
  canaryWeight: z.int().min(0).max(100).optional(),
  mirrorPercent: z.int().min(0).max(100).optional().meta({
    description: "The share of requests copied to the canary, whose answers are dropped.",
  }),
  failedChecks: z.int().optional(),
  erroredChecks: z.int().optional(),
  inconclusiveChecks: z.int().optional(),
  metrics: z.array(MetricStatus).optional(),
  pauseReasons: z.array(PauseReason).optional(),
  appliedActions: AppliedActions.optional(),
  nextCheckAt: z.string().optional(),
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

/** Annotations a person (or the CLI) sets on a Rollout to steer it. */
export const ANNOTATIONS = {
  pause: `${GROUP}/pause`,
  resume: `${GROUP}/resume`,
  promote: `${GROUP}/promote`,
  promoteFull: `${GROUP}/promote-full`,
  abort: `${GROUP}/abort`,
  retry: `${GROUP}/retry`,
} as const satisfies Record<OneShotAction | "pause", string>;
