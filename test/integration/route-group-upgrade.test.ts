// A cluster where an earlier Fledge wrote an HTTPRouteGroup with one map of headers, on the
// HTTPRouteGroup CRD it then generated, which has since been updated to crds/ (smi-sdk-go's
// list of filters). The stored object no longer fits its schema, which server-side apply refuses
// to patch; the controller must still take the group over.

import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, expect, test } from "vitest";
import { stringify } from "yaml";
import { httpRouteGroupCrd } from "../../src/api/crd/definitions.ts";
import { KubeClient } from "../../src/kube/client.ts";
import { type ControlPlane, startControlPlane } from "../harness/control-plane.ts";
import {
  deploymentManifest,
  eventually,
  newNamespace,
  ok,
  paths,
  repoRoot,
  rolloutManifest,
} from "./support/cluster.ts";
import {
  controllerKubeconfig,
  type RunningController,
  startController,
  tempDir,
} from "./support/controller.ts";
import type { RolloutJson } from "./support/rollouts.ts";

type Crd = ReturnType<typeof httpRouteGroupCrd> & { metadata: { resourceVersion?: string } };
type Headers = { type: string; items?: unknown; additionalProperties?: unknown };

/** crds/' HTTPRouteGroup CRD with the one-map headers Fledge generated before. */
function oneMapCrd(): Crd {
  const crd = httpRouteGroupCrd() as Crd;
  for (const version of crd.spec.versions) {
    const spec = version.schema.openAPIV3Schema.properties.spec as {
      properties: { matches: { items: { properties: { headers: Headers } } } };
    };
    spec.properties.matches.items.properties.headers = {
      type: "object",
      additionalProperties: { type: "string" },
    };
  }
  return crd;
}

// A control plane of this file's own: the tier's must keep crds/ as they are.
let plane: ControlPlane;
let client: KubeClient;
let controller: RunningController;
const tmp = tempDir();
const crdPath = `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${httpRouteGroupCrd().metadata.name}`;

beforeAll(async () => {
  const old = join(tmp.dir, "one-map-httproutegroups.yaml");
  writeFileSync(old, stringify(oneMapCrd()));
  plane = await startControlPlane({ crdDirs: [join(repoRoot, "crds")], crdFiles: [old] });
  client = await KubeClient.fromKubeConfig(plane.kubeConfig);
  controller = startController(await controllerKubeconfig(tmp.dir, plane.kubeConfig), tmp.dir);
}, 120_000);

afterAll(async () => {
  await controller?.kill();
  await plane?.stop();
  if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
});

test("a one-map HTTPRouteGroup left from before the CRD took the list shape is rewritten", async () => {
  const ns = await newNamespace(client, "upgrade");
  const groups = `/apis/specs.smi-spec.io/v1alpha4/namespaces/${ns}/httproutegroups`;
  ok(
    await client.create(groups, {
      apiVersion: "specs.smi-spec.io/v1alpha4",
      kind: "HTTPRouteGroup",
      metadata: { name: "podinfo", namespace: ns },
      spec: { matches: [{ name: "insiders", headers: { "x-canary": "insider" } }] },
    }),
    "the old group",
  );
  const current = ok(await client.get<Crd>(crdPath), "the CRD");
  const updated = httpRouteGroupCrd() as Crd;
  updated.metadata.resourceVersion = current.metadata.resourceVersion;
  ok(await client.replace(crdPath, updated), "the CRD as crds/ has it");
  // The new schema is in force once a write of the old shape is refused.
  let probes = 0;
  await eventually("the list schema in force", async () => {
    const refused = await client.create(groups, {
      apiVersion: "specs.smi-spec.io/v1alpha4",
      kind: "HTTPRouteGroup",
      metadata: { name: `probe-${probes++}`, namespace: ns },
      spec: { matches: [{ name: "x", headers: { x: "1" } }] },
    });
    return refused.ok ? undefined : true;
  });

  ok(await client.create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 1)), "target");
  const spec = {
    targetRef: { name: "podinfo" },
    service: { port: 9898 },
    steps: [{ setWeight: 100 }, { pause: {} }],
    trafficRouting: {
      smi: { matches: [{ name: "insiders", headers: { "x-canary": "insider" } }] },
    },
  };
  ok(await client.create(paths.rollouts(ns), rolloutManifest(ns, "podinfo", spec)), "rollout");
  await eventually("Healthy", async () => {
    const r = await client.get<RolloutJson>(`${paths.rollouts(ns)}/podinfo`);
    return r.ok && r.value.status?.phase === "Healthy" ? true : undefined;
  });
  const group = ok(await client.get<{ spec: unknown }>(`${groups}/podinfo`), "the group");
  expect(group.spec).toEqual({
    matches: [{ name: "insiders", headers: [{ "x-canary": "insider" }] }],
  });
});
