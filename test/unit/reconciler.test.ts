// The reconciler through its dependency interface, as controller-runtime projects test theirs:
// for a given cluster and status, the writes it makes. The cluster is an in-memory apiserver
// behind KubeClient's one request method; the caches read it directly, so they are never behind.

import { isDeepStrictEqual } from "node:util";
import pino from "pino";
import { describe, expect, it } from "vitest";
import type { Analyst } from "../../src/analysis/analyst.ts";
import type { TemplateObject } from "../../src/api/analysis-template.ts";
import { Apps } from "../../src/controller/apps.ts";
import { Reconciler } from "../../src/controller/reconciler.ts";
import { rolloutObject } from "../../src/controller/rollout-object.ts";
import { autoscalerView } from "../../src/kube/autoscaler.ts";
import { KubeClient, type KubeResult } from "../../src/kube/client.ts";
import { deploymentView } from "../../src/kube/deployment.ts";
import { serviceView } from "../../src/kube/service.ts";
import type { EventRecorder } from "../../src/observability/events.ts";
import { routeView } from "../../src/traffic/gateway/http-route.ts";
import { gatewayRouters } from "../../src/traffic/gateway/routers.ts";
import { routersFor } from "../../src/traffic/routers.ts";
import { splitView } from "../../src/traffic/smi/router.ts";
import { smiRouters } from "../../src/traffic/smi/routers.ts";
import { type JsonOp, jsonPatch } from "./support/json-patch.ts";

type Obj = {
  metadata: Record<string, unknown> & { name: string; resourceVersion?: string };
  [k: string]: unknown;
};

/** RFC 7386: objects merge, null deletes, anything else replaces. */
function merge(base: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof base === "object" && base !== null && !Array.isArray(base) ? { ...base } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v);
  }
  return out;
}

/** Objects by path; every write is recorded as "METHOD kind/name[/status]". */
class Cluster {
  readonly objects = new Map<string, Obj>();
  readonly writes: string[] = [];
  private version = 1;

  put(path: string, obj: Obj): Obj {
    const stored = structuredClone(obj);
    const before = this.objects.get(path);
    stored.metadata.resourceVersion = String(++this.version);
    // As the apiserver counts: a generation for every change of spec.
    const generation = (before?.metadata.generation as number | undefined) ?? 0;
    stored.metadata.generation =
      before && isDeepStrictEqual(before.spec, stored.spec) ? generation : generation + 1;
    this.objects.set(path, stored);
    return stored;
  }

  at(path: string): Obj | undefined {
    return this.objects.get(path);
  }

  client(): KubeClient {
    const cluster = this;
    return new (class extends KubeClient {
      override async request<T>(method: string, path: string, body?: unknown) {
        return cluster.answer(method, path, body) as KubeResult<T>;
      }
    })({} as never);
  }

  private answer(method: string, path: string, body: unknown): KubeResult<unknown> {
    const notFound = {
      ok: false as const,
      error: { status: 404, reason: "NotFound", message: path },
    };
    if (method === "GET") {
      const obj = this.objects.get(path);
      if (obj) return { ok: true, value: obj };
      const items = [...this.objects].filter(([p]) => p.startsWith(`${path}/`)).map(([, o]) => o);
      return { ok: true, value: { items } };
    }
    const status = path.endsWith("/status");
    const objectPath = status ? path.slice(0, -"/status".length) : path;
    const name = objectPath.split("/").pop();
    if (method === "POST") {
      const obj = body as Obj;
      this.writes.push(`POST ${path.split("/").pop()}/${obj.metadata.name}`);
      return { ok: true, value: this.put(`${path}/${obj.metadata.name}`, obj) };
    }
    const current = this.objects.get(objectPath);
    this.writes.push(`${method} ${kindOf(objectPath)}/${name}${status ? "/status" : ""}`);
    if (method === "PUT") {
      if (!current) return notFound;
      const next = status
        ? { ...current, status: (body as Obj).status }
        : { ...(body as Obj), status: current.status };
      return { ok: true, value: this.put(objectPath, next as Obj) };
    }
    if (Array.isArray(body)) {
      if (!current) return notFound;
      const patched = jsonPatch(current, body as JsonOp[]) as Obj;
      if (patched.metadata.resourceVersion !== current.metadata.resourceVersion)
        return { ok: false, error: { status: 409, reason: "Conflict", message: path } };
      return { ok: true, value: this.put(objectPath, patched) };
    }
    // Merge and server-side apply alike: what these tests write merges the same either way.
    const next = merge(current ?? {}, body) as Obj;
    return { ok: true, value: this.put(objectPath, next) };
  }

  /** The Deployment's controller and kubelet, done: every replica updated and available. */
  rollOut(path: string): void {
    const d = this.at(path);
    if (!d) throw new Error(`no ${path}`);
    const replicas = ((d.spec as { replicas?: number }).replicas ?? 1) as number;
    this.put(path, {
      ...d,
      status: {
        observedGeneration: d.metadata.generation,
        replicas,
        updatedReplicas: replicas,
        readyReplicas: replicas,
        availableReplicas: replicas,
      },
    });
  }
}

const kindOf = (path: string) => path.split("/").slice(-2)[0];

const NS = "shop";
const paths = {
  rollout: `/apis/fledge.dev/v1alpha1/namespaces/${NS}/rollouts/podinfo`,
  target: `/apis/apps/v1/namespaces/${NS}/deployments/podinfo`,
  primary: `/apis/apps/v1/namespaces/${NS}/deployments/podinfo-primary`,
  deployments: `/apis/apps/v1/namespaces/${NS}/deployments`,
  services: `/api/v1/namespaces/${NS}/services`,
  autoscalers: `/apis/autoscaling/v2/namespaces/${NS}/horizontalpodautoscalers`,
  splits: `/apis/split.smi-spec.io/v1alpha4/namespaces/${NS}/trafficsplits`,
  routes: `/apis/gateway.networking.k8s.io/v1/namespaces/${NS}/httproutes`,
};

function target(revision: string): Obj {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "podinfo", namespace: NS, uid: "u-target" },
    spec: {
      replicas: 1,
      selector: { matchLabels: { app: "podinfo" } },
      template: {
        metadata: { labels: { app: "podinfo" }, annotations: { revision } },
        spec: { containers: [{ name: "app", image: `podinfo:${revision}` }] },
      },
    },
  };
}

const rollout: Obj = {
  apiVersion: "fledge.dev/v1alpha1",
  kind: "Rollout",
  metadata: { name: "podinfo", namespace: NS, uid: "u-rollout", finalizers: [] },
  spec: {
    targetRef: { name: "podinfo" },
    service: { port: 9898 },
    steps: [{ setWeight: 20 }, { pause: {} }],
  },
};

const quiet: Analyst = {
  check: async () => [],
  gate: async () => ({ outcome: "passed" }),
  readiness: async () => undefined,
  notify: async () => {},
};

function world() {
  const cluster = new Cluster();
  const client = cluster.client();
  const get = <T>(view: (raw: unknown) => T | undefined, base: string) => ({
    get: (_ns: string, name: string) => view(cluster.at(`${base}/${name}`)),
    remember: () => {},
  });
  const rollouts = get(rolloutObject, paths.rollout.replace(/\/podinfo$/, ""));
  const deployments = get((raw) => deploymentView(raw, true), paths.deployments);
  const events: string[] = [];
  const templates: TemplateObject[] = [];
  const reconciler = new Reconciler({
    client,
    rollouts,
    deployments,
    services: get(serviceView, paths.services),
    autoscalers: { ...get(autoscalerView, paths.autoscalers), list: () => [] },
    apps: new Apps({ deployment: deployments.get, rollout: rollouts.get }),
    routers: routersFor(
      smiRouters(client, get(splitView, paths.splits), () => ["v1alpha4"]),
      gatewayRouters(client, get(routeView, paths.routes), () => [
        { version: "v1", ruleNames: true, mirrorPercent: true },
      ]),
    ),
    templates: { list: (kind) => templates.filter((t) => t.kind === kind) },
    analyst: quiet,
    events: {
      record: (_subject: unknown, notice: { reason: string }) => events.push(notice.reason),
    } as unknown as EventRecorder,
    logger: pino({ level: "silent" }),
    now: () => Date.parse("2026-12-01T00:00:00Z"),
  });
  const reconcile = async () => {
    cluster.writes.length = 0;
    await reconciler.reconcile(`${NS}/podinfo`);
    return [...cluster.writes];
  };
  return { cluster, reconcile, events, templates };
}

/** A world whose rollout is Healthy at revision r1, its primary rolled out and the target at 0. */
async function healthy(spec: Record<string, unknown> = {}) {
  const w = world();
  w.cluster.put(paths.target, target("r1"));
  w.cluster.put(paths.rollout, { ...rollout, spec: { ...(rollout.spec as object), ...spec } });
  await w.reconcile();
  w.cluster.rollOut(paths.primary);
  await w.reconcile();
  await w.reconcile();
  return w;
}

const phase = (w: ReturnType<typeof world>) =>
  (w.cluster.at(paths.rollout)?.status as { phase?: string } | undefined)?.phase;

describe("the reconciler's writes for a given cluster and status", () => {
  it("a new Rollout: the finalizer, the primary and its Services, then status; none while the primary comes up", async () => {
    const w = world();
    w.cluster.put(paths.target, target("r1"));
    w.cluster.put(paths.rollout, rollout);
    expect(await w.reconcile()).toEqual([
      "PATCH rollouts/podinfo",
      "PATCH rollouts/podinfo/status",
      "PATCH deployments/podinfo-primary",
      "PATCH services/podinfo-primary",
      "PATCH services/podinfo-canary",
      "PATCH services/podinfo",
      "PATCH rollouts/podinfo/status",
    ]);
    expect(phase(w)).toBe("Initializing");
    expect(await w.reconcile()).toEqual([]);
  });

  it("Healthy once the primary serves: the split, the target scaled to 0, and then nothing", async () => {
    const w = await healthy();
    expect(phase(w)).toBe("Healthy");
    expect(w.cluster.at(`${paths.splits}/podinfo`)).toBeDefined();
    expect(w.cluster.at(paths.target)?.spec).toMatchObject({ replicas: 0 });
    expect(await w.reconcile()).toEqual([]);
  });

  // A controller that took up the status already written and found these writes done would
  // make the same moves (the canary is scaled for the target's new revision, the weight for the
  // canary's readiness), so a crash between write and status loses nothing: one status each.
  // Writes the machine cannot read back as its decision (the primary above) are recorded first.
  it("a move that a controller restarted from status would make again is recorded once, after its write", async () => {
    const w = await healthy();
    w.cluster.put(paths.target, {
      ...target("r2"),
      spec: { ...(target("r2").spec as object), replicas: 0 },
    });
    expect(await w.reconcile()).toEqual([
      "PATCH deployments/podinfo",
      "PATCH rollouts/podinfo/status",
    ]);
    w.cluster.rollOut(paths.target);
    expect(await w.reconcile()).toEqual([
      "PATCH trafficsplits/podinfo",
      "PATCH rollouts/podinfo/status",
    ]);
    expect(phase(w)).toBe("Paused");
    expect(await w.reconcile()).toEqual([]);
  });

  it("an unreadable status.machine: one status write naming it, and nothing else moves", async () => {
    const w = await healthy();
    const r = w.cluster.at(paths.rollout) as Obj;
    w.cluster.put(paths.rollout, {
      ...r,
      status: { ...(r.status as object), machine: { version: 9 } },
    });
    w.cluster.put(paths.target, target("r2"));
    expect(await w.reconcile()).toEqual(["PATCH rollouts/podinfo/status"]);
    expect(w.cluster.at(paths.rollout)?.status).toMatchObject({
      conditions: expect.arrayContaining([
        expect.objectContaining({ type: "Ready", reason: "StatusUnreadable" }),
      ]),
    });
    expect(w.events).toContain("StatusUnreadable");
    expect(await w.reconcile()).toEqual([]);
  });

  // The CRD's rule has a zod twin, so on SMI the schema refuses it before any router is asked
  // (router capabilities still judge a Gateway API version that cannot mirror).
  it("a mirror step on SMI, past an older CRD: refused in a condition, nothing written", async () => {
    const w = await healthy();
    const r = w.cluster.at(paths.rollout) as Obj;
    w.cluster.put(paths.rollout, {
      ...r,
      spec: { ...(r.spec as object), steps: [{ setMirror: 50 }, { pause: {} }] },
    });
    w.cluster.put(paths.target, target("r2"));
    expect(await w.reconcile()).toEqual(["PATCH rollouts/podinfo/status"]);
    expect(condition(w, "SpecValid")).toMatchObject({
      status: "False",
      reason: "InvalidSpec",
      message: expect.stringContaining("setMirror steps need trafficRouting.gatewayAPI"),
    });
  });

  it("a query of the Rollout's own naming no variable: held with QueryInvalid, not errored check by check into a rollback", async () => {
    const w = await healthy();
    const r = w.cluster.at(paths.rollout) as Obj;
    const metric = {
      name: "errors",
      thresholdRange: { max: 1 },
      provider: {
        type: "prometheus",
        query: 'sum(rate(errors{app="{{args.app}}"}[{{interval}}]))',
      },
    };
    w.cluster.put(paths.rollout, {
      ...r,
      spec: { ...(r.spec as object), analysis: { metrics: [metric] } },
    });
    w.cluster.put(paths.target, target("r2"));
    expect(await w.reconcile()).toEqual(["PATCH rollouts/podinfo/status"]);
    expect(condition(w, "SpecValid")).toMatchObject({
      status: "False",
      reason: "QueryInvalid",
      message:
        "analysis.metrics[0] (errors): the query uses {{args.app}}; the variables are {{namespace}}, {{target}}, {{canary}}, {{interval}}",
    });
  });
});

const condition = (w: ReturnType<typeof world>, type: string) =>
  (
    w.cluster.at(paths.rollout)?.status as
      | { conditions?: { type: string; message?: string }[] }
      | undefined
  )?.conditions?.find((c) => c.type === type);

/** The route's parent, as a mesh writes its verdict on the generation it saw. */
function parentSays(w: ReturnType<typeof world>, accepted: boolean, reason = "Accepted") {
  const route = w.cluster.at(`${paths.routes}/podinfo`) as Obj;
  const generation = route.metadata.generation;
  w.cluster.put(`${paths.routes}/podinfo`, {
    ...route,
    status: {
      parents: [
        {
          parentRef: { group: "", kind: "Service", name: "podinfo" },
          controllerName: "example.com/mesh",
          conditions: [
            {
              type: "Accepted",
              status: accepted ? "True" : "False",
              reason,
              observedGeneration: generation,
            },
            {
              type: "ResolvedRefs",
              status: "True",
              reason: "ResolvedRefs",
              observedGeneration: generation,
            },
          ],
        },
      ],
    },
  });
}

describe("the reconciler on the Gateway API router", () => {
  const gateway = { trafficRouting: { gatewayAPI: {} } };

  it("holds each weight until the route's parent accepts the generation written, and says why", async () => {
    const w = await healthy(gateway);
    // The route exists, but no parent has taken it up: the canary keeps its pods.
    expect(w.cluster.at(`${paths.routes}/podinfo`)).toBeDefined();
    expect(condition(w, "TrafficRouted")).toMatchObject({
      status: "Unknown",
      reason: "RoutePending",
    });
    expect(w.cluster.at(paths.target)?.spec).toMatchObject({ replicas: 1 });
    parentSays(w, true);
    expect(await w.reconcile()).toEqual([
      "PATCH deployments/podinfo",
      "PATCH rollouts/podinfo/status",
    ]);
    expect(condition(w, "TrafficRouted")).toMatchObject({
      status: "True",
      reason: "RouteAccepted",
    });

    w.cluster.put(paths.target, {
      ...target("r2"),
      spec: { ...(target("r2").spec as object), replicas: 0 },
    });
    await w.reconcile();
    w.cluster.rollOut(paths.target);
    expect(await w.reconcile()).toEqual([
      "PATCH httproutes/podinfo",
      "PATCH rollouts/podinfo/status",
    ]);
    const rules = (w.cluster.at(`${paths.routes}/podinfo`)?.spec as { rules?: unknown[] })?.rules;
    expect(rules).toEqual([
      expect.objectContaining({
        backendRefs: [
          expect.objectContaining({ name: "podinfo-primary", weight: 80 }),
          expect.objectContaining({ name: "podinfo-canary", weight: 20 }),
        ],
      }),
    ]);
    // Written, not yet accepted: the step holds, and a reconcile has nothing to write.
    expect(phase(w)).toBe("Progressing");
    expect(await w.reconcile()).toEqual([]);

    parentSays(w, false, "NotAllowedByListeners");
    expect(await w.reconcile()).toEqual(["PATCH rollouts/podinfo/status"]);
    expect(condition(w, "TrafficRouted")).toMatchObject({
      status: "False",
      reason: "RouteNotAccepted",
      message: expect.stringContaining("NotAllowedByListeners"),
    });
    expect(w.events).toContain("RouteNotAccepted");
    expect(phase(w)).toBe("Progressing");

    parentSays(w, true);
    await w.reconcile();
    expect(phase(w)).toBe("Paused");
    expect(condition(w, "TrafficRouted")).toMatchObject({ status: "True" });
  });

  it("a route of the user's that another Rollout steers, or with no rule for the apex: refused, said in Ready and an Event", async () => {
    for (const [labels, rules, says] of [
      [
        { "fledge.dev/rollout": "other" },
        [{ backendRefs: [{ name: "podinfo", port: 9898 }] }],
        "is steered by Rollout other",
      ],
      [
        {},
        [{ backendRefs: [{ name: "elsewhere", port: 80 }] }],
        "has no rule whose backendRefs name Service podinfo",
      ],
    ] as const) {
      const w = world();
      w.cluster.put(`${paths.routes}/shop`, {
        apiVersion: "gateway.networking.k8s.io/v1",
        kind: "HTTPRoute",
        metadata: { name: "shop", namespace: NS, labels },
        spec: { parentRefs: [{ group: "", kind: "Service", name: "podinfo" }], rules },
      });
      w.cluster.put(paths.target, target("r1"));
      w.cluster.put(paths.rollout, {
        ...rollout,
        spec: {
          ...(rollout.spec as object),
          trafficRouting: { gatewayAPI: { httpRoute: "shop" } },
        },
      });
      await w.reconcile();
      w.cluster.rollOut(paths.primary);
      await expect(w.reconcile()).rejects.toThrow(says);
      expect(condition(w, "Ready")).toMatchObject({
        status: "False",
        reason: "WriteRefused",
        message: expect.stringContaining(says),
      });
      // Fledge declined the write: the apiserver was never asked, and the message says so.
      expect(condition(w, "Ready")?.message).toMatch(
        /^the route shop\/podinfo was not written: HTTPRoute shop\/shop /,
      );
      expect(w.events).toContain("WriteRefused");
      expect(w.cluster.at(`${paths.routes}/shop`)?.spec).toMatchObject({ rules });
    }
  });

  it("a template missing mid-rollout holds the rollout where it is; its creation clears the hold", async () => {
    const w = await healthy();
    w.cluster.put(paths.target, {
      ...target("r2"),
      spec: { ...(target("r2").spec as object), replicas: 0 },
    });
    await w.reconcile();
    w.cluster.rollOut(paths.target);
    await w.reconcile();
    const split = w.cluster.at(`${paths.splits}/podinfo`);
    const r = w.cluster.at(paths.rollout) as Obj;
    const analysis = { templates: [{ name: "success", clusterScope: true }] };
    w.cluster.put(paths.rollout, { ...r, spec: { ...(r.spec as object), analysis } });
    expect(await w.reconcile()).toEqual(["PATCH rollouts/podinfo/status"]);
    expect(condition(w, "SpecValid")).toMatchObject({
      status: "False",
      reason: "TemplateNotFound",
      message:
        "ClusterAnalysisTemplate success does not exist (the ClusterAnalysisTemplates: none)",
    });
    expect(w.events).toContain("TemplateNotFound");
    expect(await w.reconcile()).toEqual([]);
    expect(w.cluster.at(`${paths.splits}/podinfo`)).toEqual(split);

    w.templates.push({
      kind: "ClusterAnalysisTemplate",
      metadata: { name: "success", generation: 1 },
      spec: { metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }] },
    });
    await w.reconcile();
    expect(condition(w, "SpecValid")).toMatchObject({ status: "True" });
    expect(phase(w)).toBe("Paused");
  });
});

describe("the reconciler's writes for an autoscaled app", () => {
  const userHpa: Obj = {
    apiVersion: "autoscaling/v2",
    kind: "HorizontalPodAutoscaler",
    metadata: { name: "podinfo", namespace: NS },
    spec: {
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo" },
      minReplicas: 2,
      maxReplicas: 6,
      metrics: [{ type: "Resource", resource: { name: "cpu", target: { type: "Utilization" } } }],
    },
  };
  const primaryHpa = `${paths.autoscalers}/podinfo-primary`;

  it("the primary's HPA is made once the primary exists, replaced when it differs, and left alone when equal", async () => {
    const w = world();
    w.cluster.put(paths.target, target("r1"));
    w.cluster.put(`${paths.autoscalers}/podinfo`, userHpa);
    w.cluster.put(paths.rollout, {
      ...rollout,
      spec: { ...(rollout.spec as object), autoscalerRef: { name: "podinfo" } },
    });
    // Woken by the primary's creation, the next reconcile gives it its HPA.
    const first = await w.reconcile();
    expect(first).toContain("PATCH deployments/podinfo-primary");
    expect(first).not.toContain("POST horizontalpodautoscalers/podinfo-primary");
    expect(await w.reconcile()).toEqual(["POST horizontalpodautoscalers/podinfo-primary"]);
    expect(w.cluster.at(primaryHpa)?.spec).toEqual({
      ...(userHpa.spec as object),
      scaleTargetRef: { apiVersion: "apps/v1", kind: "Deployment", name: "podinfo-primary" },
    });
    expect(await w.reconcile()).toEqual([]);

    const made = w.cluster.at(primaryHpa) as Obj;
    w.cluster.put(primaryHpa, { ...made, spec: { ...(made.spec as object), minReplicas: 4 } });
    expect(await w.reconcile()).toEqual(["PUT horizontalpodautoscalers/podinfo-primary"]);
    expect(w.cluster.at(primaryHpa)?.spec).toMatchObject({ minReplicas: 2 });
    expect(await w.reconcile()).toEqual([]);
  });
});
