import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, onTestFinished, test } from "vitest";
import { parseAllDocuments } from "yaml";
import { eventually, newNamespace, ok, paths, repoRoot } from "./support/cluster.ts";
import { type RolloutJson, withController } from "./support/rollouts.ts";

const world = withController();
const EXAMPLES = join(repoRoot, "examples");

type Manifest = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
};

/** Where each kind an example may hold is created; another kind fails the test until added here. */
const COLLECTION: Record<string, (ns: string) => string> = {
  Deployment: paths.deployments,
  Rollout: paths.rollouts,
  Service: paths.services,
  ConfigMap: (ns) => `/api/v1/namespaces/${ns}/configmaps`,
  AnalysisTemplate: (ns) => `/apis/fledge.dev/v1alpha1/namespaces/${ns}/analysistemplates`,
  HorizontalPodAutoscaler: (ns) => `/apis/autoscaling/v2/namespaces/${ns}/horizontalpodautoscalers`,
};

type Autoscaler = { status?: { conditions?: { type: string; status: string }[] } };

/** The cluster-scoped kinds an example may hold: created as they are, and removed after it. */
const CLUSTER_COLLECTION: Record<string, string> = {
  ClusterAnalysisTemplate: "/apis/fledge.dev/v1alpha1/clusteranalysistemplates",
};

const examples = readdirSync(EXAMPLES, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

const manifestsOf = (example: string): Manifest[] =>
  readdirSync(join(EXAMPLES, example))
    .filter((f) => f.endsWith(".yaml") || f.endsWith(".yml"))
    .sort()
    .flatMap((f) =>
      parseAllDocuments(readFileSync(join(EXAMPLES, example, f), "utf8")).map(
        (d) => d.toJS() as Manifest,
      ),
    )
    .filter((m) => m && m.kind !== "Namespace" && m.kind !== "Kustomization");

describe("every example under examples/", () => {
  test("there are examples for each kind of rollout the README describes", () => {
    expect(examples).toEqual(
      expect.arrayContaining([
        "ab-header",
        "autoscaled",
        "blue-green",
        "canary-judge",
        "canary-prometheus",
        "gateway-ab-header",
        "gateway-canary",
        "gateway-mirror",
        "manual-gate",
        "shared-analysis",
        "webhooks",
      ]),
    );
  });

  test.each(examples)("%s is created as it is, and the controller accepts it", async (example) => {
    const manifests = manifestsOf(example);
    expect(manifests.some((m) => m.kind === "Rollout")).toBe(true);
    // A namespace of its own, whatever the example names, so examples never meet.
    const ns = await newNamespace(world.client, `ex-${example}`.slice(0, 40));
    const made: string[] = [];
    onTestFinished(async () => {
      for (const path of made) await world.client.delete(path);
    });
    for (const m of manifests) {
      const shared = CLUSTER_COLLECTION[m.kind];
      if (shared) {
        ok(
          await world.client.create(shared, m),
          `examples/${example}: create ${m.kind} ${m.metadata.name}`,
        );
        made.push(`${shared}/${m.metadata.name}`);
        continue;
      }
      const collection = COLLECTION[m.kind];
      if (!collection) throw new Error(`examples/${example}: no collection for kind ${m.kind}`);
      ok(
        await world.client.create(collection(ns), {
          ...m,
          metadata: { ...m.metadata, namespace: ns },
        }),
        `examples/${example}: create ${m.kind} ${m.metadata.name}`,
      );
    }
    // Accepted: SpecValid True, and initialised (the primary made from the Deployment serves).
    for (const r of manifests.filter((m) => m.kind === "Rollout")) {
      const path = `${paths.rollouts(ns)}/${r.metadata.name}`;
      const healthy = await eventually(
        `examples/${example}: ${r.metadata.name} Healthy`,
        async () => {
          const got = ok(await world.client.get<RolloutJson>(path), "get rollout");
          return got.status?.phase === "Healthy" ? got : undefined;
        },
      );
      expect(healthy.status?.conditions?.find((c) => c.type === "SpecValid")).toMatchObject({
        status: "True",
      });
    }
    // An autoscaler's copy on the primary, reading the primary pods' metrics.
    for (const a of manifests.filter((m) => m.kind === "HorizontalPodAutoscaler")) {
      const path = `${COLLECTION.HorizontalPodAutoscaler?.(ns)}/${a.metadata.name}-primary`;
      await eventually(`examples/${example}: ${a.metadata.name}-primary scaling`, async () => {
        const got = await world.client.get<Autoscaler>(path);
        const active = got.ok
          ? got.value.status?.conditions?.find((c) => c.type === "ScalingActive")
          : undefined;
        return active?.status === "True" ? true : undefined;
      });
    }
  });
});
