// The Gateway API router end to end, on the real Gateway API CRDs (sigs.k8s.io/gateway-api's
// standard channel, whose CEL rules judge every route Fledge writes) and a simulated GAMMA mesh
// that follows HTTPRoutes and writes their parent status: what SMI cannot do (mirroring, a
// route its parent refuses) and what only this router has (a route of the user's, edited in
// one rule). Canary promotion, rollback and A/B run on both routers in analysis.test.ts.

import { describe, expect, test } from "vitest";
import { eventually, eventWith, ok, paths } from "../integration/support/cluster.ts";
import { Podinfo, type RolloutJson } from "../integration/support/rollouts.ts";
import { controllerOnPrometheus } from "./support/controller.ts";
import { requestsBy } from "./support/simulator.ts";

const world = controllerOnPrometheus();

type Status = NonNullable<RolloutJson["status"]> & { mirrorPercent?: number };
type Rule = {
  name?: string;
  matches?: unknown[];
  backendRefs?: { name: string; weight?: number }[];
};
type HttpRoute = {
  metadata: { labels?: Record<string, string>; ownerReferences?: unknown[] };
  spec: { rules: Rule[] };
};

const GATEWAY = { trafficRouting: { gatewayAPI: {} } };
const SUCCESS_RATE = "fledge.dev/sim-success-rate";
const REFUSE = "fledge.dev/sim-refuse-routes";

const status = async (p: Podinfo) => ((await p.rollout()).status ?? {}) as Status;
const condition = (s: Status, type: string) => s.conditions?.find((c) => c.type === type);
const route = async (ns: string, name: string) =>
  ok(await world.client.get<HttpRoute>(`${paths.httpRoutes(ns)}/${name}`), `HTTPRoute ${name}`);

/** Requests the simulator has sent in a namespace so far, by deployment and whether mirrored. */
async function counted(ns: string) {
  const now = await requestsBy(ns, "deployment", "mirrored");
  return (deployment: string, mirrored: boolean) => now.get(`${deployment}|${mirrored}`) ?? 0;
}

const successRate = {
  interval: "3s",
  minRequestCount: 5,
  failureLimit: 2,
  metrics: [
    {
      name: "request-success-rate",
      thresholdRange: { min: 99 },
      provider: { type: "prometheus", mesh: "envoy" },
    },
  ],
};

describe("mirroring: a canary judged on copies of real requests before it answers anyone", () => {
  test("a good canary passes on mirrored traffic alone, then takes weight and is promoted", async () => {
    const { p, initial } = await Podinfo.healthy(
      world.client,
      "gw-mirror-good",
      [{ setMirror: 50 }, { analysis: { passes: 2 } }, { setWeight: 50 }],
      { ...GATEWAY, analysis: successRate },
    );
    const start = await counted(p.ns);
    await p.newRevision("v2");
    await eventually("the mirror in effect", async () => {
      const s = await status(p);
      const t = await p.traffic();
      return s.mirrorPercent === 50 && t?.mirrorPercent === 50 ? true : undefined;
    });
    // While mirroring, the canary is sent copies and answers no world.client.
    const mirroring = await eventually(
      "mirrored requests at the canary",
      async () => {
        const now = await counted(p.ns);
        return now("podinfo", true) - start("podinfo", true) >= 20 ? now : undefined;
      },
      60_000,
    );
    expect(mirroring("podinfo", false) - start("podinfo", false)).toBe(0);
    expect(mirroring("podinfo-primary", false)).toBeGreaterThan(start("podinfo-primary", false));
    const passed = await eventually(
      "a check passed on mirrored traffic",
      async () => {
        const s = (await status(p)) as Status & {
          metrics?: { outcome: string; requests?: number }[];
        };
        const m = s.metrics?.find((x) => x.outcome === "passed");
        return m && (s.mirrorPercent ?? 0) === 50 ? m : undefined;
      },
      60_000,
    );
    expect(passed.requests).toBeGreaterThanOrEqual(5);
    const done = await eventually(
      "promotion",
      async () => {
        const s = await status(p);
        return s.phase === "Healthy" && s.stableRevision !== initial.status?.stableRevision
          ? s
          : undefined;
      },
      120_000,
    );
    expect(done.mirrorPercent).toBeUndefined();
    expect(await p.traffic()).toEqual({ canaryWeight: 0, mirrorPercent: 0 });
  });

  test("a bad canary is rolled back on mirrored traffic, having answered no client", async () => {
    const { p, initial } = await Podinfo.healthy(
      world.client,
      "gw-mirror-bad",
      [{ setMirror: 100 }, { analysis: { passes: 3 } }, { setWeight: 50 }],
      { ...GATEWAY, analysis: successRate },
    );
    const start = await counted(p.ns);
    await p.newRevision("v2", { [SUCCESS_RATE]: "0.5" });
    const failed = await eventually(
      "rollback",
      async () => {
        const s = await status(p);
        return s.phase === "Failed" ? s : undefined;
      },
      120_000,
    );
    expect(failed.stableRevision).toBe(initial.status?.stableRevision);
    expect(condition(failed, "Ready")).toMatchObject({ reason: "AnalysisFailed" });
    const end = await counted(p.ns);
    expect(end("podinfo", true) - start("podinfo", true)).toBeGreaterThan(0);
    expect(end("podinfo", false) - start("podinfo", false)).toBe(0);
    expect(await p.traffic()).toEqual({ canaryWeight: 0, mirrorPercent: 0 });
  });
});

test("a route its parent refuses holds the step, with a condition and an Event naming the parent's reason", async () => {
  const { p } = await Podinfo.healthy(
    world.client,
    "gw-refused",
    [{ setWeight: 20 }, { pause: {} }],
    GATEWAY,
  );
  ok(
    await world.client.patch(`${paths.services(p.ns)}/podinfo`, {
      metadata: { annotations: { [REFUSE]: "NotAllowedByListeners" } },
    }),
    "the mesh refuses the route",
  );
  await p.newRevision("v2");
  const held = await eventually("RouteNotAccepted", async () => {
    const s = await status(p);
    const c = condition(s, "TrafficRouted");
    return c?.status === "False" && s.canaryRevision ? s : undefined;
  });
  expect(condition(held, "TrafficRouted")).toMatchObject({
    reason: "RouteNotAccepted",
    message: expect.stringContaining("NotAllowedByListeners"),
  });
  expect(await eventWith(world.client, p.ns, "RouteNotAccepted")).toMatchObject({
    type: "Warning",
  });
  // Written, not in effect: the step holds and its pause has not begun.
  await eventually("the weight written", async () =>
    (await p.weight()) === 20 ? true : undefined,
  );
  const still = await status(p);
  expect(still.phase).toBe("Progressing");
  expect(still.currentStepIndex).toBe(0);
  ok(
    await world.client.patch(`${paths.services(p.ns)}/podinfo`, {
      metadata: { annotations: { [REFUSE]: null } },
    }),
    "the mesh accepts the route",
  );
  const paused = await p.phase("Paused", 60_000);
  expect(condition(paused.status ?? {}, "TrafficRouted")).toMatchObject({
    status: "True",
    reason: "RouteAccepted",
  });
});

test("a route of the user's: only the rule that sends to the apex is steered, and it is handed back on deletion", async () => {
  const staticRule = {
    name: "static",
    matches: [{ path: { type: "PathPrefix", value: "/static" } }],
    backendRefs: [{ name: "static", port: 80 }],
  };
  const theirs = (ns: string) => ({
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name: "shop", namespace: ns },
    spec: {
      parentRefs: [{ group: "", kind: "Service", name: "podinfo" }],
      rules: [
        staticRule,
        {
          name: "main",
          matches: [{ path: { type: "PathPrefix", value: "/" } }],
          backendRefs: [{ name: "podinfo", port: 9898 }],
          timeouts: { request: "5s" },
        },
      ],
    },
  });
  const { p } = await Podinfo.healthy(
    world.client,
    "gw-theirs",
    [{ setWeight: 30 }, { pause: {} }],
    { trafficRouting: { gatewayAPI: { httpRoute: "shop" } } },
    async (ns) => {
      ok(
        await world.client.create(paths.services(ns), {
          apiVersion: "v1",
          kind: "Service",
          metadata: { name: "static", namespace: ns },
          spec: { selector: { app: "static" }, ports: [{ port: 80 }] },
        }),
        "the static Service",
      );
      ok(await world.client.create(paths.httpRoutes(ns), theirs(ns)), "the user's route");
    },
  );
  // Healthy as soon as the primary serves: the route may still wait for its parent.
  await eventually("the route accepted", async () =>
    condition(await status(p), "TrafficRouted")?.status === "True" ? true : undefined,
  );
  await p.newRevision("v2");
  await p.phase("Paused", 60_000);
  const steered = await route(p.ns, "shop");
  expect(steered.metadata.labels?.["fledge.dev/rollout"]).toBe("podinfo");
  expect(steered.metadata.ownerReferences).toBeUndefined();
  expect(steered.spec.rules[0]).toMatchObject(staticRule);
  // The rule that sends to the apex is Fledge's: the user's name, matches and timeouts stay.
  expect(steered.spec.rules[1]).toMatchObject({
    name: "main",
    matches: [{ path: { type: "PathPrefix", value: "/" } }],
    timeouts: { request: "5s" },
    backendRefs: [
      expect.objectContaining({ name: "podinfo-primary", weight: 70 }),
      expect.objectContaining({ name: "podinfo-canary", weight: 30 }),
    ],
  });

  ok(await world.client.delete(`${paths.rollouts(p.ns)}/podinfo`), "delete the Rollout");
  const handedBack = await eventually(
    "the route handed back",
    async () => {
      const r = await route(p.ns, "shop");
      return r.metadata.labels?.["fledge.dev/rollout"] === undefined ? r : undefined;
    },
    60_000,
  );
  expect(handedBack.spec.rules[0]).toMatchObject(staticRule);
  expect(handedBack.spec.rules[1]).toMatchObject({
    name: "main",
    timeouts: { request: "5s" },
    backendRefs: [expect.objectContaining({ name: "podinfo", weight: 1 })],
  });
  expect(handedBack.spec.rules[1]?.backendRefs).toHaveLength(1);
});
