import { describe, expect, it } from "vitest";
import { primaryLabels } from "../../src/api/names.ts";
import { observations } from "../../src/controller/observations.ts";
import { rolloutStatus, statusDiffers, withTransitionTimes } from "../../src/controller/status.ts";
import { canaryReady, deploymentView, templateHash } from "../../src/kube/deployment.ts";
import { coalesce } from "../../src/observability/events.ts";
import { canaryPercent, splitView } from "../../src/traffic/smi/router.ts";
import { chooseSplitVersion } from "../../src/traffic/smi/versions.ts";
import { Driver, plan, T0 } from "./support/driver.ts";

const deployment = (over: Record<string, unknown> = {}) => ({
  metadata: {
    name: "podinfo",
    namespace: "shop",
    uid: "u1",
    generation: 3,
    annotations: { "x/y": "z" },
    managedFields: [{ big: true }],
  },
  spec: {
    replicas: 2,
    selector: { matchLabels: { app: "podinfo" } },
    template: {
      metadata: { labels: { app: "podinfo" } },
      spec: { containers: [{ name: "app", image: "podinfo:1" }] },
    },
  },
  status: {
    observedGeneration: 3,
    replicas: 2,
    updatedReplicas: 2,
    availableReplicas: 2,
    readyReplicas: 2,
  },
  ...over,
});

describe("the slim Deployment view", () => {
  it("keeps what reconcile reads and hashes the template, whatever its key order", () => {
    const view = deploymentView(deployment());
    expect(view).toMatchObject({
      replicas: 2,
      matchLabels: { app: "podinfo" },
      rolledOut: true,
      metadata: { annotations: {} },
    });
    expect(JSON.stringify(view)).not.toContain("managedFields");
    const reordered = {
      spec: { containers: [{ image: "podinfo:1", name: "app" }] },
      metadata: { labels: { app: "podinfo" } },
    };
    expect(view?.templateHash).toBe(templateHash(reordered));
    expect(view?.templateHash).not.toBe(
      templateHash({ ...reordered, spec: { containers: [{ name: "app", image: "podinfo:2" }] } }),
    );
  });

  it("is ready as a canary only at the revision, scaled up and fully available", () => {
    const view = deploymentView(deployment());
    if (!view) throw new Error("unparsed");
    expect(canaryReady(view, view.templateHash)).toBe(true);
    expect(canaryReady(view, "other")).toBe(false);
    const stale = deploymentView(
      deployment({
        status: { observedGeneration: 2, replicas: 2, updatedReplicas: 2, availableReplicas: 2 },
      }),
    );
    expect(stale?.rolledOut).toBe(false);
    expect(primaryLabels({ app: "podinfo" })).toEqual({ app: "podinfo-primary" });
  });

  it("keeps the spec of a Rollout's target only, for promotion to copy without a read", () => {
    expect(deploymentView(deployment())?.source).toBeUndefined();
    const target = deploymentView(deployment(), true);
    expect(target?.source?.metadata).toEqual({ name: "podinfo", namespace: "shop" });
    expect(target?.source?.spec.template).toEqual(deployment().spec.template);
    expect(JSON.stringify(target)).not.toContain("managedFields");
  });
});

describe("observations", () => {
  it("feed the machine nothing new when nothing changed", () => {
    const d = new Driver().initialise();
    const target = deploymentView(deployment());
    if (!target) throw new Error("unparsed");
    const seen = {
      plan: plan(),
      target,
      primary: undefined,
      traffic: { canaryWeight: 0, mirrorPercent: 0 },
      annotations: {},
    };
    const events = observations(d.context, seen, T0 + 1);
    expect(events.map((e) => e.type)).toEqual(["TARGET", "CANARY", "TRAFFIC", "PAUSE", "TICK"]);
    expect(observations(d.context, { ...seen, plan: plan({ intervalMs: 1 }) }, T0)[0]?.type).toBe(
      "SPEC",
    );
  });
});

describe("status", () => {
  it("keeps lastTransitionTime while a condition's status holds", () => {
    const first = withTransitionTimes(
      undefined,
      [{ type: "Ready", status: "True", reason: "Serving", message: "" }],
      "t1",
      1,
    );
    const same = withTransitionTimes(
      first,
      [{ type: "Ready", status: "True", reason: "Serving", message: "x" }],
      "t2",
      2,
    );
    const flipped = withTransitionTimes(
      first,
      [{ type: "Ready", status: "False", reason: "RolledBack", message: "" }],
      "t3",
      2,
    );
    expect(same[0]?.lastTransitionTime).toBe("t1");
    expect(flipped[0]?.lastTransitionTime).toBe("t3");
  });

  it("a status that differs only in the machine's clock is not worth a write", () => {
    const d = new Driver().initialise();
    const before = rolloutStatus(d.snapshot, undefined, 1, T0);
    d.advance(60_000);
    const after = rolloutStatus(d.snapshot, before, 1, d.now);
    expect(statusDiffers(before, after)).toBe(false);
    d.send({ type: "TARGET", revision: "r2" });
    expect(statusDiffers(before, rolloutStatus(d.snapshot, before, 1, d.now))).toBe(true);
  });

  it("nor does one that differs only in what the machine observed of the cluster", () => {
    const d = new Driver().initialise();
    const before = rolloutStatus(d.snapshot, undefined, 1, T0);
    d.send({ type: "PRIMARY", revision: "r1", ready: false });
    d.send({ type: "TRAFFIC", canaryWeight: 5 });
    expect(d.snapshot.context).toMatchObject({ primaryReadyRevision: undefined, trafficWeight: 5 });
    expect(statusDiffers(before, rolloutStatus(d.snapshot, before, 1, d.now))).toBe(false);
  });
});

describe("SMI routing", () => {
  it("reads weights of every split version as a percentage", () => {
    const v1 = splitView({
      metadata: { name: "a", namespace: "s" },
      spec: {
        service: "a",
        backends: [
          { service: "a-primary", weight: "750m" },
          { service: "a-canary", weight: "250m" },
        ],
      },
    });
    if (!v1) throw new Error("unparsed");
    expect(canaryPercent(v1, "a-canary")).toBe(25);
    const v2 = splitView({
      metadata: { name: "a" },
      spec: {
        service: "a",
        backends: [
          { service: "a-primary", weight: 40 },
          { service: "a-canary", weight: 60 },
        ],
      },
    });
    if (!v2) throw new Error("unparsed");
    expect(canaryPercent(v2, "a-canary")).toBe(60);
  });

  it("picks the newest served version unless pinned, and says why a pin cannot be met", () => {
    expect(chooseSplitVersion("auto", ["v1alpha1", "v1alpha2"])).toEqual({
      ok: true,
      version: "v1alpha2",
    });
    expect(chooseSplitVersion("split.smi-spec.io/v1alpha1", ["v1alpha1", "v1alpha4"])).toEqual({
      ok: true,
      version: "v1alpha1",
    });
    const refused = chooseSplitVersion("split.smi-spec.io/v1alpha3", ["v1alpha2"]);
    expect(refused.ok).toBe(false);
    if (!refused.ok) expect(refused.reason).toContain("served: v1alpha2");
  });

  it("A/B matches need a split version that has them", () => {
    expect(chooseSplitVersion("auto", ["v1alpha2", "v1alpha4"], true)).toEqual({
      ok: true,
      version: "v1alpha4",
    });
    const older = chooseSplitVersion("auto", ["v1alpha1", "v1alpha2"], true);
    expect(older.ok).toBe(false);
    if (!older.ok) expect(older.reason).toContain("matches need split.smi-spec.io/v1alpha3");
    const split = splitView({
      metadata: { name: "a" },
      spec: {
        service: "a",
        backends: [{ service: "a-canary", weight: 100 }],
        matches: [{ kind: "HTTPRouteGroup", name: "a" }],
      },
    });
    expect(split?.routeGroups).toEqual(["a"]);
  });
});

describe("Events", () => {
  it("one Normal Event per reconcile, named by the notice that began the move; Warnings apart by reason", () => {
    const merged = coalesce([
      { type: "Normal", reason: "CanaryReady", message: "canary r2 is ready" },
      { type: "Warning", reason: "CheckFailed", message: "success rate 80" },
      { type: "Normal", reason: "StepAdvanced", message: "step 1/2: canary weight 20%" },
      { type: "Warning", reason: "AnalysisFailed", message: "3 failed checks" },
      { type: "Normal", reason: "StepAdvanced", message: "step 2/2: pause 10s" },
      { type: "Warning", reason: "CheckFailed", message: "latency 900" },
    ]);
    expect(merged).toEqual([
      {
        type: "Normal",
        reason: "CanaryReady",
        message: "canary r2 is ready; step 1/2: canary weight 20%; step 2/2: pause 10s",
      },
      { type: "Warning", reason: "CheckFailed", message: "success rate 80; latency 900" },
      { type: "Warning", reason: "AnalysisFailed", message: "3 failed checks" },
    ]);
  });
});
