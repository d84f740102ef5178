import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { parse, parseAllDocuments, stringify } from "yaml";
import {
  deploymentManifest,
  eventually,
  newNamespace,
  ok,
  paths,
  repoRoot,
  rolloutManifest,
} from "./support/cluster.ts";
import { withOwnControlPlane } from "./support/own-plane.ts";
import { Problems } from "./support/problems.ts";

type Crd = {
  spec: { versions: { schema: { openAPIV3Schema: { properties: Record<string, unknown> } } }[] };
};

// A control plane of this file's own, as an operator might have it: no SMI support installed
// yet, and a Rollout CRD older than the controller, whose schema admits any spec.
const world = withOwnControlPlane((dir) => {
  const crd = parse(readFileSync(join(repoRoot, "crds/fledge.dev_rollouts.yaml"), "utf8")) as Crd;
  for (const v of crd.spec.versions)
    v.schema.openAPIV3Schema.properties.spec = {
      type: "object",
      "x-kubernetes-preserve-unknown-fields": true,
    };
  writeFileSync(join(dir, "rollouts.yaml"), stringify(crd));
  return { crdDirs: [dir] };
});
const problems = new Problems(() => world.client);

/** Installs the SMI CRDs of crds/ the way a mesh's SMI support would, while the controller runs. */
async function installSmi() {
  for (const file of [
    "smi_split.smi-spec.io_trafficsplits.yaml",
    "smi_specs.smi-spec.io_httproutegroups.yaml",
  ]) {
    for (const doc of parseAllDocuments(readFileSync(join(repoRoot, "crds", file), "utf8")))
      ok(
        await world.client.create(
          "/apis/apiextensions.k8s.io/v1/customresourcedefinitions",
          doc.toJS(),
        ),
        file,
      );
  }
}

test("InvalidSpec clears when the spec is fixed; RoutingUnavailable when the cluster gets SMI", async () => {
  const ns = await newNamespace(world.client, "splitapi");
  ok(
    await world.client.create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 1)),
    "target",
  );
  const spec = {
    targetRef: { name: "podinfo" },
    service: { port: 9898 },
    steps: [{ setWeight: 50 }],
  };
  const bad = { ...spec, service: { port: "http" } };
  ok(await world.client.create(paths.rollouts(ns), rolloutManifest(ns, "podinfo", bad)), "rollout");
  expect((await problems.reported(ns, "podinfo", "InvalidSpec")).message).toContain(
    "service.port: Invalid input",
  );
  await problems.clears(
    ns,
    "podinfo",
    "InvalidSpec",
    () =>
      world.client.patch(`${paths.rollouts(ns)}/podinfo`, { spec: { service: { port: 9898 } } }),
    "RoutingUnavailable",
  );

  expect((await problems.reported(ns, "podinfo", "RoutingUnavailable")).message).toContain(
    "serves no split.smi-spec.io version",
  );
  await problems.clears(ns, "podinfo", "RoutingUnavailable", installSmi);
  await problems.serving(ns, "podinfo");
  const split = await eventually("the TrafficSplit", async () => {
    const got = await world.client.get<{ spec: { backends: { service: string }[] } }>(
      `${paths.splits(ns)}/podinfo`,
    );
    return got.ok ? got.value : undefined;
  });
  expect(split.spec.backends.map((b) => b.service)).toEqual(["podinfo-primary", "podinfo-canary"]);
  // The split written once and then known to the cache: no write keeps failing.
  expect(world.controller.logs()).not.toContain("kept conflicting");
}, 120_000);
