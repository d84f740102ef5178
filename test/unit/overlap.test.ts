import { describe, expect, it } from "vitest";
import { Apps } from "../../src/controller/apps.ts";
import { findOverlap } from "../../src/controller/overlap.ts";
import { type RolloutObject, rolloutObject } from "../../src/controller/rollout-object.ts";
import { type DeploymentView, deploymentView } from "../../src/kube/deployment.ts";
import { LabelIndex } from "../../src/kube/label-index.ts";

type Labels = Record<string, string>;

const NS = "shop";

function deployment(
  name: string,
  selector: Labels,
  podLabels: Labels = selector,
  metaLabels: Labels = {},
  pod: Record<string, unknown> = { containers: [{ name: "app", image: "podinfo" }] },
): DeploymentView {
  const view = deploymentView({
    metadata: { name, namespace: NS, labels: metaLabels },
    spec: {
      selector: { matchLabels: selector },
      template: { metadata: { labels: podLabels }, spec: pod },
    },
  });
  if (!view) throw new Error("test deployment did not parse");
  return view;
}

/** Fledge's primary of a target, as it makes it. */
const primaryOf = (target: DeploymentView, rollout: string) => {
  const p = Object.fromEntries(
    Object.entries(target.matchLabels ?? {}).map(([k, v]) => [k, `${v}-primary`]),
  );
  return deployment(
    `${target.metadata.name}-primary`,
    p,
    { ...target.podLabels, ...p },
    { "app.kubernetes.io/managed-by": "fledge", "fledge.dev/rollout": rollout },
  );
};

function rollout(name: string, target: string, createdAt: string): RolloutObject {
  const r = rolloutObject({
    apiVersion: "fledge.dev/v1alpha1",
    metadata: { name, namespace: NS, creationTimestamp: createdAt, resourceVersion: "1" },
    spec: { targetRef: { name: target } },
  });
  if (!r) throw new Error("test rollout did not parse");
  return r;
}

/** A namespace as the informers would feed it to the index. */
function cluster(deployments: DeploymentView[], rollouts: RolloutObject[]) {
  const ds = new Map(deployments.map((d) => [d.metadata.name, d]));
  const rs = new Map(rollouts.map((r) => [r.metadata.name, r]));
  const apps = new Apps({
    deployment: (_ns, name) => ds.get(name),
    rollout: (_ns, name) => rs.get(name),
  });
  for (const r of rollouts) apps.rolloutChanged("ADDED", r, undefined);
  for (const d of deployments) apps.deploymentChanged("ADDED", d, undefined);
  const judge = (name: string) => {
    const r = rs.get(name);
    const target = r && ds.get((r.spec as { targetRef: { name: string } }).targetRef.name);
    if (!r || !target) throw new Error(`no rollout or target for ${name}`);
    return findOverlap(
      {
        name,
        createdAt: r.metadata.creationTimestamp ?? "",
        target: target.metadata.name,
      },
      target,
      apps.view(NS),
    );
  };
  return { apps, ds, rs, judge };
}

const EARLY = "2025-01-01T00:00:00Z";
const LATE = "2025-01-01T00:05:00Z";

describe("the label index", () => {
  const index = new LabelIndex();
  index.set(NS, "web", [{ app: "web", tier: "front" }]);
  index.set(NS, "worker", [{ app: "web", tier: "back" }]);
  index.set("other", "web", [{ app: "web", tier: "front" }]);

  it("finds the sets a selector selects, in one namespace", () => {
    expect(index.selectedBy(NS, { app: "web" }).sort()).toEqual(["web", "worker"]);
    expect(index.selectedBy(NS, { app: "web", tier: "back" })).toEqual(["worker"]);
    expect(index.selectedBy(NS, { app: "nope" })).toEqual([]);
    expect(index.selectedBy(NS, {})).toEqual([]);
  });

  it("finds the sets that, as selectors, select given labels", () => {
    expect(index.selecting(NS, { app: "web", tier: "front", extra: "x" })).toEqual(["web"]);
    expect(index.selecting(NS, { app: "web" })).toEqual([]);
  });

  it("forgets an object it is told is gone", () => {
    const i = new LabelIndex();
    i.set(NS, "a", [{ app: "a" }]);
    i.delete(NS, "a");
    expect(i.selectedBy(NS, { app: "a" })).toEqual([]);
    expect(i.selecting(NS, { app: "a" })).toEqual([]);
  });
});

describe("the slim Deployment view keeps what judgement reads of the template", () => {
  it("pod labels, and the TCP port names of containers and sidecars", () => {
    const d = deployment(
      "web",
      { app: "web" },
      { app: "web", v: "1" },
      {},
      {
        containers: [
          { name: "app", ports: [{ name: "http", containerPort: 80 }, { containerPort: 81 }] },
          { name: "dns", ports: [{ name: "dns", containerPort: 53, protocol: "UDP" }] },
        ],
        initContainers: [
          {
            name: "proxy",
            restartPolicy: "Always",
            ports: [{ name: "proxy", containerPort: 15001 }],
          },
          { name: "setup", ports: [{ name: "setup", containerPort: 9 }] },
        ],
      },
    );
    expect(d.podLabels).toEqual({ app: "web", v: "1" });
    expect(d.portNames).toEqual(["http", "proxy"]);
  });
});

describe("selector overlap between apps of a namespace", () => {
  it("two Deployments with one selector: the later Rollout is told, naming the older", () => {
    const steady = deployment("steady", { app: "steady" });
    const clash = deployment("clash", { app: "steady" });
    const c = cluster(
      [steady, primaryOf(steady, "steady"), clash],
      [rollout("steady", "steady", EARLY), rollout("clash", "clash", LATE)],
    );
    expect(c.judge("steady")).toBeUndefined();
    const problem = c.judge("clash");
    expect(problem?.reason).toBe("SelectorOverlap");
    expect(problem?.message).toContain("Rollout steady");
    expect(problem?.message).toContain("give Deployment clash a selector");
  });

  it("made in the same second, the name decides, so exactly one of the two yields", () => {
    const a = deployment("a", { app: "x" });
    const b = deployment("b", { app: "x" });
    const c = cluster([a, b], [rollout("a", "a", EARLY), rollout("b", "b", EARLY)]);
    expect(c.judge("a")).toBeUndefined();
    expect(c.judge("b")?.message).toContain("Rollout a");
  });

  it("a Rollout whose primary is made goes on before a newcomer of the same second", () => {
    const a = deployment("a", { app: "x" });
    const b = deployment("b", { app: "x" });
    const c = cluster(
      [a, b, primaryOf(b, "b")],
      [rollout("a", "a", EARLY), rollout("b", "b", EARLY)],
    );
    expect(c.judge("b")).toBeUndefined();
    expect(c.judge("a")?.message).toContain("Rollout b");
  });

  it("an older Rollout's selector that selects the newer's pods makes the newer yield", () => {
    // broad's canary Service (app=web) would select narrow's pods; narrow's selectors select
    // none of broad's: the overlap is seen from the older side only, yet the newer yields.
    const broad = deployment("broad", { app: "web" });
    const narrow = deployment("narrow", { app: "web", v: "2" });
    const c = cluster(
      [broad, narrow],
      [rollout("broad", "broad", EARLY), rollout("narrow", "narrow", LATE)],
    );
    expect(c.judge("broad")).toBeUndefined();
    expect(c.judge("narrow")?.message).toContain(
      "Rollout broad, which came first, routes by the selector app=web",
    );
  });

  it("before either primary is made, the targets alone show the overlap", () => {
    // Two Rollouts made at once: no primary exists yet to be selected.
    const one = deployment("one", { app: "web", tier: "x" });
    const two = deployment("two", { app: "web" }, { app: "web", tier: "x-primary" });
    const c = cluster([one, two], [rollout("one", "one", EARLY), rollout("two", "two", LATE)]);
    expect(c.judge("one")).toBeUndefined();
    expect(c.judge("two")?.reason).toBe("SelectorOverlap");
  });

  it("a Deployment no Rollout manages cannot yield: the Rollout whose selector selects its pods is told", () => {
    const web = deployment("web", { app: "web" });
    const worker = deployment(
      "web-worker",
      { app: "web", role: "worker" },
      {
        app: "web",
        role: "worker",
      },
    );
    const c = cluster([web, worker], [rollout("web", "web", LATE)]);
    expect(c.judge("web")?.message).toContain(
      "the selector app=web selects the pods of Deployment web-worker, which no Rollout manages",
    );
  });

  it("a second Rollout of the same Deployment is told the older one has it", () => {
    const web = deployment("web", { app: "web" });
    const c = cluster([web], [rollout("first", "web", EARLY), rollout("second", "web", LATE)]);
    expect(c.judge("first")).toBeUndefined();
    expect(c.judge("second")?.message).toBe(
      "Rollout first came first and already rolls out Deployment web",
    );
  });

  it("apps with selectors of their own, and a Rollout's own primary, are no overlap", () => {
    const web = deployment("web", { app: "web" });
    const api = deployment("api", { app: "api" });
    const c = cluster(
      [web, primaryOf(web, "web"), api, primaryOf(api, "api")],
      [rollout("web", "web", EARLY), rollout("api", "api", LATE)],
    );
    expect(c.judge("web")).toBeUndefined();
    expect(c.judge("api")).toBeUndefined();
  });
});

describe("which Rollouts a change wakes", () => {
  it("a Deployment named like a Rollout's primary wakes that Rollout, also when it goes", () => {
    const web = deployment("web", { app: "web" });
    const squatter = deployment("web-primary", { app: "squat" });
    const c = cluster([web], [rollout("web", "web", EARLY)]);
    expect(c.apps.deploymentChanged("ADDED", squatter, undefined)).toEqual(["shop/web"]);
    expect(c.apps.deploymentChanged("DELETED", squatter, squatter)).toEqual(["shop/web"]);
  });

  it("a Deployment whose pods a Rollout's selectors select wakes it, before and after a change", () => {
    const web = deployment("web", { app: "web" });
    const c = cluster([web], [rollout("web", "web", EARLY)]);
    const before = deployment("worker", { app: "web", role: "w" });
    const after = deployment("worker", { app: "worker" });
    expect(c.apps.deploymentChanged("ADDED", before, undefined)).toEqual(["shop/web"]);
    expect(c.apps.deploymentChanged("MODIFIED", after, before)).toEqual(["shop/web"]);
    expect(c.apps.deploymentChanged("MODIFIED", after, after)).toEqual([]);
  });

  it("a Rollout that appears or goes wakes those whose selectors meet its target's", () => {
    const steady = deployment("steady", { app: "steady" });
    const clash = deployment("clash", { app: "steady" });
    const c = cluster([steady, clash], [rollout("steady", "steady", EARLY)]);
    const late = rollout("clash", "clash", LATE);
    expect(c.apps.rolloutChanged("ADDED", late, undefined)).toEqual(["shop/steady"]);
    expect(c.apps.rolloutChanged("MODIFIED", late, late)).toEqual([]);
    expect(c.apps.rolloutChanged("DELETED", late, late)).toEqual(["shop/steady"]);
    expect(c.apps.isTarget(NS, "clash")).toBe(false);
  });
});
