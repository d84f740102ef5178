import { describe, expect, it } from "vitest";
import { RolloutSpec } from "../../src/api/rollout.ts";
import { Apps } from "../../src/controller/apps.ts";
import {
  primaryAutoscalerManifest,
  primaryAutoscalerMatches,
} from "../../src/controller/autoscalers.ts";
import { type AutoscalersSeen, judge } from "../../src/controller/judge.ts";
import { primaryManifest } from "../../src/controller/primary-manifest.ts";
import { rolloutObject } from "../../src/controller/rollout-object.ts";
import { type AutoscalerView, autoscalerView } from "../../src/kube/autoscaler.ts";
import { deploymentView, parseDeployment } from "../../src/kube/deployment.ts";

const NS = "shop";
const owner = { name: "podinfo", namespace: NS, uid: "u-1" };
const FLEDGE = { "app.kubernetes.io/managed-by": "fledge", "fledge.dev/rollout": "podinfo" };

function hpa(
  name: string,
  target: { kind?: string; name: string; apiVersion?: string },
  spec: Record<string, unknown> = {},
  labels: Record<string, string> = {},
) {
  return {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name, namespace: NS, resourceVersion: "7", labels },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", ...target },
      minReplicas: 2,
      maxReplicas: 10,
      metrics: [
        {
          type: "Resource",
          resource: { name: "cpu", target: { type: "Utilization", averageUtilization: 70 } },
        },
      ],
      ...spec,
    },
    status: { currentReplicas: 3, desiredReplicas: 4 },
  };
}

const view = (raw: unknown) => {
  const v = autoscalerView(raw);
  if (!v) throw new Error("not an autoscaler");
  return v;
};

describe("the primary's HorizontalPodAutoscaler", () => {
  const user = view(
    hpa(
      "web",
      { name: "podinfo" },
      { behavior: { scaleDown: { stabilizationWindowSeconds: 60 } } },
    ),
  );

  it("the slim view keeps what it scales and how, not its status", () => {
    expect(user).toEqual({
      metadata: { name: "web", namespace: NS, resourceVersion: "7", labels: {} },
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
      policy: {
        minReplicas: 2,
        maxReplicas: 10,
        metrics: hpa("web", { name: "podinfo" }).spec.metrics,
        behavior: { scaleDown: { stabilizationWindowSeconds: 60 } },
      },
    });
    expect(autoscalerView({ metadata: { name: "x" }, spec: {} })).toBeUndefined();
  });

  it("is <hpa>-primary on the primary Deployment, with the user's policy, Fledge's labels and owner", () => {
    const m = primaryAutoscalerManifest("web", "podinfo", user.policy, owner);
    expect(m).toEqual({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      metadata: {
        name: "web-primary",
        namespace: NS,
        labels: FLEDGE,
        ownerReferences: [
          {
            apiVersion: "fledge.dev/v1alpha1",
            kind: "Rollout",
            name: "podinfo",
            uid: "u-1",
            controller: true,
            blockOwnerDeletion: true,
          },
        ],
      },
      spec: {
        scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo-primary" },
        ...user.policy,
      },
    });
    // Replacing an existing one is conditional on the version the cache saw.
    expect(
      primaryAutoscalerManifest("web", "podinfo", user.policy, owner, "42").metadata,
    ).toMatchObject({ resourceVersion: "42" });
  });

  it("matches when it scales the primary as the user's scales the target, whatever the key order", () => {
    const made = view({
      ...primaryAutoscalerManifest("web", "podinfo", user.policy, owner),
      metadata: { name: "web-primary", namespace: NS, resourceVersion: "9", labels: FLEDGE },
    });
    expect(primaryAutoscalerMatches(made, user, "podinfo", owner)).toBe(true);
    const reordered: AutoscalerView = {
      ...made,
      policy: {
        behavior: made.policy.behavior,
        metrics: made.policy.metrics,
        maxReplicas: 10,
        minReplicas: 2,
      },
    };
    expect(primaryAutoscalerMatches(reordered, user, "podinfo", owner)).toBe(true);

    const differs: [string, AutoscalerView][] = [
      ["a bound edited by hand", { ...made, policy: { ...made.policy, minReplicas: 4 } }],
      ["its behaviour taken away", { ...made, policy: { ...made.policy, behavior: undefined } }],
      ["another target", { ...made, scaleTargetRef: { ...made.scaleTargetRef, name: "podinfo" } }],
      ["Fledge's labels gone", { ...made, metadata: { ...made.metadata, labels: {} } }],
    ];
    for (const [what, current] of differs)
      expect(primaryAutoscalerMatches(current, user, "podinfo", owner), what).toBe(false);
  });
});

describe("the primary Deployment's apply", () => {
  const target = parseDeployment({
    metadata: { name: "podinfo", namespace: NS },
    spec: {
      replicas: 3,
      selector: { matchLabels: { app: "podinfo" } },
      template: { metadata: { labels: { app: "podinfo" } }, spec: { containers: [] } },
    },
  });
  if (!target) throw new Error("bad target");

  it("creating, carries no resourceVersion; updating, the one the cache saw, so a write since is not undone", () => {
    expect(primaryManifest(target, "abc", 3, owner).metadata).not.toHaveProperty("resourceVersion");
    const update = primaryManifest(target, "abc", 5, owner, "1234");
    expect(update.metadata.resourceVersion).toBe("1234");
    expect(update.spec.replicas).toBe(5);
  });
});

describe("the judge on autoscalerRef", () => {
  const spec = (autoscalerRef?: { name: string }) =>
    RolloutSpec.parse({
      targetRef: { name: "podinfo" },
      service: { port: 9898 },
      steps: [{ setWeight: 10 }],
      ...(autoscalerRef ? { autoscalerRef } : {}),
    });
  const rollout = rolloutObject({
    apiVersion: "fledge.dev/v1alpha1",
    kind: "Rollout",
    metadata: { name: "podinfo", namespace: NS, uid: "u-1" },
    spec: {},
  });
  const target = deploymentView({
    metadata: { name: "podinfo", namespace: NS },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: "podinfo" } },
      template: { metadata: { labels: { app: "podinfo" } } },
    },
  });
  if (!rollout || !target) throw new Error("bad fixtures");
  const apps = new Apps({ deployment: () => undefined, rollout: () => undefined }).view(NS);
  const seen = (...raws: unknown[]): AutoscalersSeen => {
    const all = raws.map(view);
    return {
      get: (name) => all.find((a) => a.metadata.name === name),
      names: () =>
        all.filter((a) => !a.metadata.labels["fledge.dev/rollout"]).map((a) => a.metadata.name),
    };
  };
  const problem = (s: RolloutSpec, autoscalers: AutoscalersSeen) =>
    judge(s, rollout, { target, primary: undefined, apps, autoscalers });

  it("has nothing to say of a Rollout that names no autoscaler", () => {
    expect(problem(spec(), seen())).toBeUndefined();
  });

  it("an autoscaler that does not exist is AutoscalerNotFound, naming those that do", () => {
    expect(problem(spec({ name: "web" }), seen())).toEqual({
      reason: "AutoscalerNotFound",
      message: `HorizontalPodAutoscaler ${NS}/web does not exist (the namespace has none)`,
    });
    const others = seen(
      hpa("podinfo", { name: "podinfo" }),
      hpa("cart", { name: "cart" }),
      hpa("podinfo-primary", { name: "podinfo-primary" }, {}, FLEDGE),
    );
    expect(problem(spec({ name: "web" }), others)?.message).toBe(
      `HorizontalPodAutoscaler ${NS}/web does not exist (the namespace has podinfo, cart)`,
    );
  });

  it("one that scales another workload is AutoscalerMismatch, saying what it scales", () => {
    expect(problem(spec({ name: "web" }), seen(hpa("web", { name: "cart" })))).toEqual({
      reason: "AutoscalerMismatch",
      message:
        "HorizontalPodAutoscaler web scales Deployment cart (apps/v1), not Deployment podinfo",
    });
    const statefulSet = seen(hpa("web", { kind: "StatefulSet", name: "podinfo" }));
    expect(problem(spec({ name: "web" }), statefulSet)?.reason).toBe("AutoscalerMismatch");
  });

  it("an <hpa>-primary that is not Fledge's is AutoscalerConflict; Fledge's own is fine", () => {
    const user = hpa("web", { name: "podinfo" });
    const foreign = seen(user, hpa("web-primary", { name: "podinfo-primary" }));
    expect(problem(spec({ name: "web" }), foreign)?.reason).toBe("AutoscalerConflict");
    const own = seen(user, hpa("web-primary", { name: "podinfo-primary" }, {}, FLEDGE));
    expect(problem(spec({ name: "web" }), own)).toBeUndefined();
  });

  it("the schema fixes the reference's apiVersion and kind", () => {
    expect(spec({ name: "web" }).autoscalerRef).toEqual({
      apiVersion: "autoscaling/v2",
      kind: "HorizontalPodAutoscaler",
      name: "web",
    });
    const wrong = RolloutSpec.safeParse({
      targetRef: { name: "podinfo" },
      service: { port: 9898 },
      steps: [{ setWeight: 10 }],
      autoscalerRef: { kind: "VerticalPodAutoscaler", name: "web" },
    });
    expect(wrong.success).toBe(false);
  });
});
