/** Malformed Rollouts: admission must refuse each, naming the field or rule; lint must too. */
export const base = {
  targetRef: { name: "podinfo" },
  service: { port: 9898 },
  steps: [{ setWeight: 10 }],
};

/** Each malformed spec, and what the apiserver's refusal must name. */
export const MALFORMED: [string, Record<string, unknown>, string][] = [
  ["weight over 100", { steps: [{ setWeight: 101 }] }, "spec.steps[0].setWeight"],
  ["negative weight", { steps: [{ setWeight: -1 }] }, "spec.steps[0].setWeight"],
  ["weight as a string", { steps: [{ setWeight: "ten" }] }, "spec.steps[0].setWeight"],
  [
    "unknown step kind",
    { steps: [{ jump: 3 }] },
    "a step has exactly one of setWeight, setMirror, pause or analysis",
  ],
  [
    "two actions in a step",
    { steps: [{ setWeight: 10, pause: {} }] },
    "a step has exactly one of setWeight, setMirror, pause or analysis",
  ],
  ["no steps", { steps: [] }, "spec.steps"],
  [
    "bad pause duration",
    { steps: [{ pause: { duration: "soon" } }] },
    "spec.steps[0].pause.duration",
  ],
  ["interval 0s", { analysis: { interval: "0s" } }, "must be at least 1s"],
  ["interval under a second", { analysis: { interval: "999ms" } }, "must be at least 1s"],
  ["pause 0s", { steps: [{ pause: { duration: "0s" } }] }, "must be at least 1s"],
  [
    "webhook timeout 0s",
    { analysis: { webhooks: [{ name: "w", url: "http://x/", timeout: "0ms" }] } },
    "must be at least 100ms",
  ],
  ["analysis passes 0", { steps: [{ analysis: { passes: 0 } }] }, "spec.steps[0].analysis.passes"],
  ["missing target", { targetRef: undefined }, "spec.targetRef"],
  ["target without name", { targetRef: {} }, "spec.targetRef.name"],
  [
    "target of another kind",
    { targetRef: { kind: "StatefulSet", name: "x" } },
    "spec.targetRef.kind",
  ],
  ["target name not DNS", { targetRef: { name: "Pod_Info" } }, "spec.targetRef.name"],
  ["missing service", { service: undefined }, "spec.service"],
  ["port 0", { service: { port: 0 } }, "spec.service.port"],
  ["port too large", { service: { port: 70000 } }, "spec.service.port"],
  [
    "min greater than max",
    {
      analysis: {
        metrics: [{ name: "request-success-rate", thresholdRange: { min: 99, max: 90 } }],
      },
    },
    "min must not be greater than max",
  ],
  [
    "threshold without bounds",
    { analysis: { metrics: [{ name: "request-success-rate", thresholdRange: {} }] } },
    "set min, max or both",
  ],
  [
    "custom metric without query",
    { analysis: { metrics: [{ name: "error-budget", thresholdRange: { max: 1 } }] } },
    "needs provider.query",
  ],
  [
    "query on the SMI provider",
    {
      analysis: {
        metrics: [
          { name: "x", thresholdRange: { max: 1 }, provider: { type: "smi", query: "up" } },
        ],
      },
    },
    "apply only to type prometheus",
  ],
  [
    "a metric named as Fledge's score",
    {
      analysis: {
        metrics: [
          {
            name: "canary-score",
            thresholdRange: { max: 1 },
            provider: { type: "prometheus", query: "up" },
          },
        ],
      },
    },
    "canary-score and traffic-weight name Fledge's own results in a check",
  ],
  [
    "a webhook named as Fledge's weight check",
    { analysis: { webhooks: [{ name: "traffic-weight", url: "http://x/" }] } },
    "canary-score and traffic-weight name Fledge's own results in a check",
  ],
  [
    // zod's URL check is only format: uri in the CRD; this one the CEL twin refuses.
    "a Prometheus address of another scheme",
    { analysis: { prometheus: { address: "ftp://prometheus:9090" } } },
    "must be an http(s) URL",
  ],
  ["failureLimit 0", { analysis: { failureLimit: 0 } }, "spec.analysis.failureLimit"],
  ["bad interval", { analysis: { interval: "often" } }, "spec.analysis.interval"],
  [
    "webhook type unknown",
    { analysis: { webhooks: [{ name: "w", type: "sometimes", url: "http://x/" }] } },
    "spec.analysis.webhooks[0].type",
  ],
  [
    "unknown TrafficSplit version",
    { trafficRouting: { smi: { apiVersion: "split.smi-spec.io/v9" } } },
    "spec.trafficRouting.smi.apiVersion",
  ],
  [
    "matches on v1alpha2",
    {
      trafficRouting: {
        smi: {
          apiVersion: "split.smi-spec.io/v1alpha2",
          matches: [{ name: "beta", headers: { x: "1" } }],
        },
      },
    },
    "matches need TrafficSplit v1alpha3 or v1alpha4",
  ],
  [
    "a match method that smi-sdk-go's HTTPRouteGroup CRD would refuse",
    { trafficRouting: { smi: { matches: [{ name: "beta", methods: ["get"] }] } } },
    "spec.trafficRouting.smi.matches[0].methods[0]",
  ],
  ["progress deadline 0", { progressDeadlineSeconds: 0 }, "spec.progressDeadlineSeconds"],
  [
    "both routers",
    { trafficRouting: { smi: {}, gatewayAPI: {} } },
    "trafficRouting takes exactly one of smi or gatewayAPI",
  ],
  [
    "neither router",
    { trafficRouting: {} },
    "trafficRouting takes exactly one of smi or gatewayAPI",
  ],
  [
    "a mirror step on SMI",
    { steps: [{ setMirror: 50 }, { setWeight: 10 }] },
    "setMirror steps need trafficRouting.gatewayAPI",
  ],
  [
    "a step that both mirrors and weighs",
    { trafficRouting: { gatewayAPI: {} }, steps: [{ setMirror: 50, setWeight: 10 }] },
    "a step has exactly one of setWeight, setMirror, pause or analysis",
  ],
  ["a canary with no steps", { steps: [] }, "a canary rollout needs at least one step"],
  [
    "a blue/green rollout with steps",
    { strategy: "blueGreen", steps: [{ setWeight: 10 }] },
    "a blueGreen rollout takes no steps",
  ],
  [
    "blue/green settings on a canary",
    { blueGreen: { previewChecks: 2 } },
    "blueGreen settings need strategy: blueGreen",
  ],
  ["an unknown strategy", { strategy: "rainbow" }, "spec.strategy"],
  [
    "a blue/green preview of no checks",
    { strategy: "blueGreen", steps: undefined, blueGreen: { previewChecks: 0 } },
    "spec.blueGreen.previewChecks",
  ],
  [
    "parentRefs for a route of the user's",
    { trafficRouting: { gatewayAPI: { httpRoute: "shop", parentRefs: [{ name: "edge" }] } } },
    "parentRefs apply to the route Fledge makes",
  ],
  [
    "a parent that is neither a Service nor a Gateway",
    { trafficRouting: { gatewayAPI: { parentRefs: [{ kind: "Ingress", name: "edge" }] } } },
    "spec.trafficRouting.gatewayAPI.parentRefs[0].kind",
  ],
];
