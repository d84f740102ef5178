// SMI routing end to end, on two clusters: the tier's, with Fledge's own minimal SMI CRDs, and
// one of this file's with the CRDs smi-sdk-go publishes (the shapes meshes ship, made
// apiextensions v1 by the harness). On each, the controller under deploy/'s RBAC rolls out
// through every split version the cluster serves, and A/B routes by header and by path, while a
// traffic simulator follows the TrafficSplit and its HTTPRouteGroup as a mesh would.

import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { parseAllDocuments } from "yaml";
import type { HeaderMatch } from "../../src/api/rollout.ts";
import { SPLIT_VERSIONS, type SplitVersion } from "../../src/api/smi.ts";
import { FIELD_MANAGER, KubeClient } from "../../src/kube/client.ts";
import { startControlPlane } from "../harness/control-plane.ts";
import { SIMULATOR_RPS } from "../harness/e2e-setup.ts";
import { startSimulator } from "../harness/simulator/simulator.ts";
import { ensureSmiSdkCrds, SMI_SDK_VERSION } from "../harness/smi-sdk.ts";
import {
  adminKubeConfig,
  eventually,
  newNamespace,
  ok,
  paths,
  repoRoot,
} from "../integration/support/cluster.ts";
import {
  controllerKubeconfig,
  startController,
  tempDir,
} from "../integration/support/controller.ts";
import { Podinfo, type RolloutJson } from "../integration/support/rollouts.ts";
import { requestsAt } from "./support/simulator.ts";

type Stop = () => Promise<unknown>;

type World = {
  client: KubeClient;
  /** The /metrics of the simulator that follows this cluster's splits. */
  metricsUrl: string;
  stops: Stop[];
};

/** The controller as a process against the cluster `admin` reaches, stopped first. */
async function withController(admin: KubeConfig, metricsUrl: string, stops: Stop[]) {
  const tmp = tempDir();
  stops.unshift(async () => {
    if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
  });
  const controller = startController(await controllerKubeconfig(tmp.dir, admin), tmp.dir);
  stops.unshift(() => controller.kill());
  return { client: await KubeClient.fromKubeConfig(admin), metricsUrl, stops };
}

/** A control plane with smi-sdk-go's CRDs and the Rollout CRD, and a simulator of its own. */
async function smiSdkWorld(): Promise<World> {
  const stops: Stop[] = [];
  try {
    const plane = await startControlPlane({
      crdDirs: [await ensureSmiSdkCrds()],
      crdFiles: [join(repoRoot, "crds/fledge.dev_rollouts.yaml")],
    });
    stops.unshift(() => plane.stop());
    const started = await startSimulator({
      kubeConfig: plane.kubeConfig,
      tls: plane.servingCertificate,
      rps: SIMULATOR_RPS,
    });
    if (!started.ok) throw new Error(started.reason);
    stops.unshift(() => started.simulator.stop());
    return await withController(plane.kubeConfig, started.simulator.metricsUrl, stops);
  } catch (error) {
    for (const stop of stops) await stop();
    throw error;
  }
}

const WORLDS: { title: string; served: readonly SplitVersion[]; start(): Promise<World> }[] = [
  {
    title: "Fledge's own SMI CRDs (crds/)",
    served: SPLIT_VERSIONS,
    start: () => withController(adminKubeConfig(), inject("simulatorMetricsUrl"), []),
  },
  {
    title: `smi-sdk-go ${SMI_SDK_VERSION}'s CRDs`,
    // Its split.yaml and specs.yaml list v1alpha1 to v1alpha4 but serve v1alpha4 alone.
    served: ["v1alpha4"],
    start: smiSdkWorld,
  },
];

/** What the simulator's requests in a namespace did over the next `count` of them, by labels. */
async function nextRequests(world: World, ns: string, count: number, ...labels: string[]) {
  const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0);
  const before = await requestsAt(world.metricsUrl, ns, labels);
  const after = await eventually(
    `${count} more requests in ${ns}`,
    async () => {
      const now = await requestsAt(world.metricsUrl, ns, labels);
      return total(now) - total(before) >= count ? now : undefined;
    },
    60_000,
  );
  return (key: string) => (after.get(key) ?? 0) - (before.get(key) ?? 0);
}

const routeGroup = async (world: World, ns: string, name: string) =>
  ok(
    await world.client.get<{ spec: unknown }>(
      `/apis/specs.smi-spec.io/v1alpha4/namespaces/${ns}/httproutegroups/${name}`,
    ),
    "the HTTPRouteGroup",
  );

/** The new revision promoted by a person at the pause step, until the rollout is Healthy at it. */
async function promoted(p: Podinfo, initial: RolloutJson) {
  await p.annotate({ "fledge.dev/promote": "1" });
  const done = await eventually(
    "promotion",
    async () => {
      const r = await p.rollout();
      const moved = r.status?.stableRevision !== initial.status?.stableRevision;
      return r.status?.phase === "Healthy" && moved ? r : undefined;
    },
    90_000,
  );
  expect(await p.weight()).toBe(0);
  return done;
}

const PAUSED_AT = (weight: number) => [{ setWeight: weight }, { pause: {} }];

// Both worlds start at once, so the second cluster comes up while the first one's tests run.
const starting = new Map<string, Promise<World>>();
beforeAll(() => {
  for (const w of WORLDS) {
    const world = w.start();
    // Awaited by the world's own tests; a failure is theirs to report.
    world.catch(() => {});
    starting.set(w.title, world);
  }
});
afterAll(async () => {
  for (const started of await Promise.allSettled(starting.values())) {
    if (started.status === "fulfilled") for (const stop of started.value.stops) await stop();
  }
});

describe.each(WORLDS)("SMI routing on $title", ({ title, served }) => {
  let world: World;
  beforeAll(async () => {
    world = await (starting.get(title) as Promise<World>);
  });

  test("the cluster serves the split versions this suite expects of it", async () => {
    const group = ok(
      await world.client.get<{ versions: { version: string }[] }>("/apis/split.smi-spec.io"),
      "discovery",
    );
    expect(group.versions.map((v) => v.version).sort()).toEqual([...served].sort());
  });

  describe.concurrent("rollouts", () => {
    test.each(served)("weights move in split.smi-spec.io/%s", async (version) => {
      const { p, initial } = await Podinfo.healthy(world.client, `w-${version}`, PAUSED_AT(30), {
        trafficRouting: { smi: { apiVersion: `split.smi-spec.io/${version}` } },
      });
      await p.newRevision("2");
      await p.phase("Paused", 60_000);
      expect(await p.weight()).toBe(30);
      // The apiserver stores every version alike; the managed fields say which one was written.
      const split = ok(
        await world.client.get<{
          metadata: { managedFields: { manager: string; apiVersion: string }[] };
        }>(`/apis/split.smi-spec.io/${version}/namespaces/${p.ns}/trafficsplits/podinfo`),
        "split",
      );
      expect(
        split.metadata.managedFields
          .filter((f) => f.manager === FIELD_MANAGER)
          .map((f) => f.apiVersion),
      ).toEqual([`split.smi-spec.io/${version}`]);
      const served = await nextRequests(world, p.ns, 300, "deployment");
      const canary = served("podinfo");
      const share = canary / (canary + served("podinfo-primary"));
      // 30% of 300: a binomial's standard deviation is about 2.6 points; these are 5.7 away.
      expect(share).toBeGreaterThan(0.15);
      expect(share).toBeLessThan(0.45);
      await promoted(p, initial);
    });

    test.each(SPLIT_VERSIONS.filter((v) => !served.includes(v)))(
      "a Rollout pinned to unserved split.smi-spec.io/%s says so",
      async (version) => {
        const p = await Podinfo.create(world.client, `unserved-${version}`, PAUSED_AT(30), {
          trafficRouting: { smi: { apiVersion: `split.smi-spec.io/${version}` } },
        });
        const condition = await eventually("SpecValid False", async () =>
          (await p.rollout()).status?.conditions?.find(
            (c) => c.type === "SpecValid" && c.status === "False",
          ),
        );
        expect(condition).toMatchObject({
          reason: "RoutingUnavailable",
          message: `split.smi-spec.io/${version} is not served (served: ${served.join(", ")})`,
        });
      },
    );

    test.each<[string, HeaderMatch, unknown]>([
      [
        "by header (two, both required)",
        { name: "insiders", headers: { "x-canary": "insider", "user-agent": ".*Firefox.*" } },
        { name: "insiders", headers: [{ "user-agent": ".*Firefox.*" }, { "x-canary": "insider" }] },
      ],
      [
        "by path and method",
        { name: "api", pathRegex: "/api/.*", methods: ["GET"] },
        { name: "api", pathRegex: "/api/.*", methods: ["GET"] },
      ],
    ])(
      "A/B %s: only matching requests reach the canary, until promotion",
      async (_, match, wire) => {
        const { p, initial } = await Podinfo.healthy(
          world.client,
          `ab-${match.name}`,
          PAUSED_AT(100),
          {
            trafficRouting: { smi: { matches: [match] } },
          },
        );
        expect((await routeGroup(world, p.ns, "podinfo")).spec).toEqual({ matches: [wire] });
        await p.newRevision("2");
        await p.phase("Paused", 60_000);
        expect(await p.weight()).toBe(100);
        const matching = `podinfo/${match.name}`;
        const during = await nextRequests(world, p.ns, 300, "request_kind", "deployment");
        expect(during(`${matching}|podinfo`)).toBeGreaterThan(0);
        expect(during(`${matching}|podinfo-primary`)).toBe(0);
        expect(during("plain|podinfo-primary")).toBeGreaterThan(0);
        expect(during("plain|podinfo")).toBe(0);
        await promoted(p, initial);
        const later = await nextRequests(world, p.ns, 300, "request_kind", "deployment");
        expect(later(`${matching}|podinfo`)).toBe(0);
        expect(later(`${matching}|podinfo-primary`)).toBeGreaterThan(0);
      },
    );

    test("examples/ab-header is Healthy, and a new revision reaches its cohort only", async () => {
      const dir = join(repoRoot, "examples/ab-header");
      const ns = await newNamespace(world.client, "ex-ab-header");
      const manifests = readdirSync(dir)
        .filter((f) => f.endsWith(".yaml"))
        .sort()
        .flatMap((f) => parseAllDocuments(readFileSync(join(dir, f), "utf8")).map((d) => d.toJS()));
      for (const m of manifests as { kind: "Deployment" | "Rollout"; metadata: object }[]) {
        const collection = m.kind === "Deployment" ? paths.deployments(ns) : paths.rollouts(ns);
        ok(
          await world.client.create(collection, {
            ...m,
            metadata: { ...m.metadata, namespace: ns },
          }),
          `create ${m.kind}`,
        );
      }
      const rollout = async () =>
        ok(await world.client.get<RolloutJson>(`${paths.rollouts(ns)}/search`), "rollout");
      const healthy = await eventually("Healthy", async () => {
        const r = await rollout();
        return r.status?.phase === "Healthy" ? r : undefined;
      });
      expect(healthy.status?.conditions?.find((c) => c.type === "SpecValid")?.status).toBe("True");
      expect((await routeGroup(world, ns, "search")).spec).toEqual({
        matches: [{ name: "beta-cohort", headers: [{ "x-canary": "true" }] }],
      });
      ok(
        await world.client.patch(`${paths.deployments(ns)}/search`, {
          spec: { template: { metadata: { annotations: { "example.com/revision": "2" } } } },
        }),
        "a new revision",
      );
      await eventually(
        "the cohort's weight at 100",
        async () => ((await rollout()).status?.canaryWeight === 100 ? true : undefined),
        60_000,
      );
      const during = await nextRequests(world, ns, 300, "request_kind", "deployment");
      expect(during("search/beta-cohort|search")).toBeGreaterThan(0);
      expect(during("search/beta-cohort|search-primary")).toBe(0);
      expect(during("plain|search")).toBe(0);
    });
  });
});
