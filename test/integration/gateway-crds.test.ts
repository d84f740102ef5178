// The tier's control plane serves the Gateway API's own CRDs (standard channel, from its Go
// module), whose CEL rules judge HTTPRoutes at admission as in a real cluster; and the simulated
// mesh writes its status.parents entries through the status subresource in the shape those CRDs
// admit, beside another controller's.

import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { KubeClient } from "../../src/kube/client.ts";
import { createLogger } from "../../src/observability/logger.ts";
import { REFUSE_ROUTES_ANNOTATION, SIMULATED_MESH_CONTROLLER } from "../harness/simulator/model.ts";
import type { StatusParent } from "../harness/simulator/route-status.ts";
import { type Simulator, startSimulator } from "../harness/simulator/simulator.ts";
import {
  adminClient,
  adminKubeConfig,
  deploymentManifest,
  eventually,
  newNamespace,
  ok,
  paths,
} from "./support/cluster.ts";

const routes = (ns: string) => `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes`;

type Route = {
  metadata: { name: string; generation: number; resourceVersion: string };
  status?: { parents?: StatusParent[] };
};

const service = (ns: string, name: string, app: string) => ({
  apiVersion: "v1",
  kind: "Service",
  metadata: { name, namespace: ns },
  spec: { selector: { app }, ports: [{ port: 9898, targetPort: 9898 }] },
});

const backendRefs = [
  { name: "podinfo-primary", port: 9898, weight: 90 },
  { name: "podinfo-canary", port: 9898, weight: 10 },
];
const parentRefs = [{ group: "", kind: "Service", name: "podinfo", port: 9898 }];

function httpRoute(ns: string, name: string, mirror: Record<string, unknown>) {
  return {
    apiVersion: "gateway.networking.k8s.io/v1",
    kind: "HTTPRoute",
    metadata: { name, namespace: ns },
    spec: {
      parentRefs,
      rules: [
        {
          backendRefs,
          filters: [
            {
              type: "RequestMirror",
              requestMirror: { backendRef: { name: "podinfo-canary", port: 9898 }, ...mirror },
            },
          ],
        },
      ],
    },
  };
}

let client: KubeClient;
let ns: string;

beforeAll(async () => {
  client = await adminClient();
  ns = await newNamespace(client, "gateway");
  for (const [name, app] of [
    ["podinfo", "podinfo"],
    ["podinfo-primary", "podinfo-primary"],
    ["podinfo-canary", "podinfo"],
  ] as const)
    ok(await client.create(paths.services(ns), service(ns, name, app)), `Service ${name}`);
});

describe("the Gateway API CRDs", () => {
  test("an HTTPRoute on a Service parent with weights and a RequestMirror percent is admitted", async () => {
    const created = ok(
      await client.create<Route & { spec: Record<string, unknown> }>(
        routes(ns),
        httpRoute(ns, "podinfo", { percent: 10 }),
      ),
      "HTTPRoute",
    );
    // The CRD's defaults are applied: a rule without matches takes every path.
    expect(created.spec).toMatchObject({
      parentRefs,
      rules: [{ matches: [{ path: { type: "PathPrefix", value: "/" } }], backendRefs }],
    });
  });

  test("a RequestMirror with both percent and fraction is refused with the CRD's CEL message", async () => {
    const refused = await client.create(
      routes(ns),
      httpRoute(ns, "both", { percent: 10, fraction: { numerator: 1, denominator: 10 } }),
    );
    expect(refused.ok).toBe(false);
    if (refused.ok) return;
    expect(refused.error.status).toBe(422);
    expect(refused.error.reason).toBe("Invalid");
    expect(refused.error.message).toContain("Only one of percent or fraction may be specified");
  });
});

describe("the simulated mesh on HTTPRoutes", () => {
  let simulator: Simulator | undefined;

  beforeAll(async () => {
    for (const name of ["podinfo-primary", "podinfo"])
      ok(await client.create(paths.deployments(ns), deploymentManifest(ns, name)), name);
    const started = await startSimulator({
      kubeConfig: adminKubeConfig(),
      namespace: ns,
      rps: 100,
      seed: 1,
      trafficMetrics: false,
      logger: createLogger("warn", "fledge-simulator"),
    });
    if (!started.ok) throw new Error(started.reason);
    simulator = started.simulator;
  });
  afterAll(() => simulator?.stop());

  const ours = (route: Route) =>
    route.status?.parents?.find((p) => p.controllerName === SIMULATED_MESH_CONTROLLER);
  const readRoute = async () => ok(await client.get<Route>(`${routes(ns)}/podinfo`), "route");

  test("status.parents says Accepted and ResolvedRefs, beside another controller's entry", async () => {
    const other: StatusParent = {
      parentRef: { group: "", kind: "Service", name: "podinfo", port: 9898 },
      controllerName: "example.com/other-mesh",
      conditions: [
        {
          type: "Accepted",
          status: "False",
          reason: "NoMatchingParent",
          message: "not ours",
          observedGeneration: 1,
          lastTransitionTime: "2026-01-01T00:00:00Z",
        },
      ],
    };
    const current = await readRoute();
    ok(
      await client.patch(`${routes(ns)}/podinfo/status`, {
        status: { parents: [...(current.status?.parents ?? []), other] },
      }),
      "other controller's status",
    );
    const route = await eventually("the simulated mesh's entry", async () => {
      const r = await readRoute();
      const entry = ours(r);
      return entry?.conditions.length === 2 ? r : undefined;
    });
    expect(route.status?.parents).toContainEqual(other);
    expect(ours(route)).toMatchObject({
      parentRef: parentRefs[0],
      conditions: [
        {
          type: "Accepted",
          status: "True",
          reason: "Accepted",
          observedGeneration: route.metadata.generation,
        },
        { type: "ResolvedRefs", status: "True", reason: "ResolvedRefs" },
      ],
    });
    // A tenth of the requests is copied to the canary: served there, counted as mirrored.
    const mirrored = await eventually("mirrored requests served by the canary", async () => {
      const text = await (await fetch(simulator?.metricsUrl ?? "")).text();
      const line = text
        .split("\n")
        .find(
          (l) =>
            l.startsWith("fledge_sim_requests_total{") &&
            l.includes('route="podinfo"') &&
            l.includes('deployment="podinfo"') &&
            l.includes('mirrored="true"'),
        );
      return line && Number(line.split(" ").pop()) > 0 ? line : undefined;
    });
    expect(mirrored).toContain('service="podinfo-canary"');
    // Nothing changes, so nothing is written again.
    await new Promise((r) => setTimeout(r, 1000));
    expect((await readRoute()).metadata.resourceVersion).toBe(route.metadata.resourceVersion);
  });

  test("a missing backend is BackendNotFound; the refuse annotation makes it Accepted=False", async () => {
    ok(
      await client.patch(`${routes(ns)}/podinfo`, {
        spec: {
          rules: [{ backendRefs: [...backendRefs, { name: "nowhere", port: 9898, weight: 1 }] }],
        },
      }),
      "route with a missing backend",
    );
    const missing = await eventually("ResolvedRefs False", async () => {
      const r = await readRoute();
      const entry = ours(r);
      return entry?.conditions.find((c) => c.type === "ResolvedRefs")?.status === "False"
        ? entry
        : undefined;
    });
    expect(missing.conditions[1]).toMatchObject({
      reason: "BackendNotFound",
      message: `Service ${ns}/nowhere not found`,
    });
    ok(
      await client.patch(`${paths.services(ns)}/podinfo`, {
        metadata: { annotations: { [REFUSE_ROUTES_ANNOTATION]: "NotAllowedByListeners" } },
      }),
      "refuse annotation",
    );
    const refused = await eventually("Accepted False", async () => {
      const entry = ours(await readRoute());
      return entry?.conditions[0]?.status === "False" ? entry : undefined;
    });
    expect(refused.conditions[0]).toMatchObject({
      type: "Accepted",
      reason: "NotAllowedByListeners",
    });
    expect(refused.conditions[0]?.message).toContain(REFUSE_ROUTES_ANNOTATION);
  });
});
