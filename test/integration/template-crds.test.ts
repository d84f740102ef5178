// A cluster without the template kinds' CRDs, as one upgraded from before them might be: the
// controller runs, a Rollout naming a template is held, and the CRD and the template applied
// later end the hold, each seen through a watch.

import { copyFileSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, test } from "vitest";
import { parse } from "yaml";
import { ok, repoRoot } from "./support/cluster.ts";
import { withOwnControlPlane } from "./support/own-plane.ts";
import { Problems } from "./support/problems.ts";
import { Podinfo } from "./support/rollouts.ts";

const CRDS = join(repoRoot, "crds");
const world = withOwnControlPlane((dir) => {
  for (const file of [
    "fledge.dev_rollouts.yaml",
    "smi_split.smi-spec.io_trafficsplits.yaml",
    "smi_specs.smi-spec.io_httproutegroups.yaml",
  ])
    copyFileSync(join(CRDS, file), join(dir, file));
  return { crdDirs: [dir] };
});
const problems = new Problems(() => world.client);

test("without the template CRDs the controller runs and holds a Rollout naming one, until the CRD and the template come", async () => {
  const { ns } = await Podinfo.create(world.client, "tmpl-crd", [{ setWeight: 50 }], {
    analysis: { templates: [{ name: "smoke" }] },
  });
  expect((await problems.reported(ns, "podinfo", "TemplateNotFound")).message).toBe(
    `AnalysisTemplate ${ns}/smoke does not exist: the cluster serves no AnalysisTemplates (install crds/)`,
  );

  const crd = parse(readFileSync(join(CRDS, "fledge.dev_analysistemplates.yaml"), "utf8"));
  ok(
    await world.client.create("/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd),
    "the AnalysisTemplate CRD",
  );
  await expect
    .poll(async () => (await problems.specValid(ns, "podinfo"))?.message, { timeout: 30_000 })
    .toBe(`AnalysisTemplate ${ns}/smoke does not exist (the AnalysisTemplates in ${ns}: none)`);

  await problems.clears(ns, "podinfo", "TemplateNotFound", () =>
    world.client.create(`/apis/fledge.dev/v1alpha1/namespaces/${ns}/analysistemplates`, {
      apiVersion: "fledge.dev/v1alpha1",
      kind: "AnalysisTemplate",
      metadata: { name: "smoke", namespace: ns },
      spec: { webhooks: [{ name: "smoke", url: "http://127.0.0.1:1/" }] },
    }),
  );
  await problems.serving(ns, "podinfo");
}, 120_000);
