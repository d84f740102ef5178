import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { renderCrds } from "../../src/api/crd/render.ts";

type Schema = {
  description?: string;
  properties?: Record<string, Schema>;
  items?: Schema;
  additionalProperties?: Schema | boolean;
};

/** Every path under `node` whose schema has no description, as `kubectl explain` would show it. */
function undescribed(node: Schema, path: string): string[] {
  const missing = node.description?.trim() ? [] : [path];
  for (const [name, child] of Object.entries(node.properties ?? {})) {
    missing.push(...undescribed(child, `${path}.${name}`));
  }
  if (node.items) missing.push(...undescribed(node.items, `${path}[]`));
  if (typeof node.additionalProperties === "object") {
    missing.push(...undescribed(node.additionalProperties, `${path}{}`));
  }
  return missing;
}

// Fledge's own CRDs; the SMI ones stand in for a mesh's and are documented by SMI.
const FLEDGE_CRDS = [
  "fledge.dev_rollouts.yaml",
  "fledge.dev_analysistemplates.yaml",
  "fledge.dev_clusteranalysistemplates.yaml",
];

describe("Fledge's CRDs", () => {
  const files = renderCrds();
  for (const file of FLEDGE_CRDS) {
    it(`${file}: every field has a description for kubectl explain`, () => {
      const crd = parse(files[file] ?? "");
      const missing = crd.spec.versions.flatMap(
        (v: { name: string; schema: { openAPIV3Schema: Schema } }) =>
          // metadata may hold nothing but its type (the apiserver refuses more); kubectl
          // explain describes it as ObjectMeta.
          undescribed(v.schema.openAPIV3Schema, `${crd.spec.names.kind}/${v.name}`).filter(
            (path) => !path.endsWith(`/${v.name}.metadata`),
          ),
      );
      expect(missing).toEqual([]);
    });
  }

  // A shared schema's description (Duration's) is the fallback; the field's own says more.
  it("gives a field's own description over the one of the shared schema it uses", () => {
    const crd = parse(files["fledge.dev_rollouts.yaml"] ?? "");
    const analysis =
      crd.spec.versions[0].schema.openAPIV3Schema.properties.spec.properties.analysis;
    expect(analysis.properties.interval.description).toMatch(/^How often metrics are checked/);
    expect(analysis.properties.webhooks.items.properties.timeout.description).toMatch(
      /^How long to wait for an answer/,
    );
  });
});
