import { beforeAll, describe, expect, test } from "vitest";
import { stringify } from "yaml";
import { lintText } from "../../src/cli/lint.ts";
import type { KubeClient } from "../../src/kube/client.ts";
import { adminClient, newNamespace, paths, rolloutManifest } from "./support/cluster.ts";
import { base, MALFORMED } from "./support/malformed.ts";

let client: KubeClient;
let ns: string;

beforeAll(async () => {
  client = await adminClient();
  ns = await newNamespace(client, "lint");
});

/** Beyond admission's corpus: specs the apiserver takes, some with what lint only warns of. */
const MORE: [string, Record<string, unknown>][] = [
  ["the base", {}],
  ["a weight that goes down", { steps: [{ setWeight: 50 }, { pause: {} }, { setWeight: 10 }] }],
  ["a plan nothing holds", { steps: [{ setWeight: 10 }, { setWeight: 50 }] }],
  [
    "matches on a pinned HTTPRoute v1beta1",
    {
      trafficRouting: {
        gatewayAPI: {
          apiVersion: "gateway.networking.k8s.io/v1beta1",
          matches: [{ name: "beta", headers: { x: "1" } }],
        },
      },
    },
  ],
  ["a webhook URL that is not one", { analysis: { webhooks: [{ name: "w", url: "nowhere" }] } }],
  ["a step of no action", { steps: [{}] }],
  [
    "compare on the SMI provider",
    {
      analysis: {
        metrics: [{ name: "request-duration-p99-ms", compare: {}, provider: { type: "smi" } }],
      },
    },
  ],
  [
    "marginal above pass",
    {
      analysis: {
        metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }],
        scoreThresholds: { pass: 50, marginal: 80 },
      },
    },
  ],
];

const CORPUS: [string, Record<string, unknown>][] = [
  ...MALFORMED.map(([name, change]): [string, Record<string, unknown>] => [name, change]),
  ...MORE,
];

describe("lint calls an error exactly what the apiserver refuses at admission", () => {
  test.each(CORPUS)("%s", async (_, change) => {
    const spec: Record<string, unknown> = { ...base, ...change };
    for (const [k, v] of Object.entries(change)) if (v === undefined) delete spec[k];
    const manifest = rolloutManifest(ns, `lint-${Math.random().toString(36).slice(2, 8)}`, spec);
    const errors = lintText(stringify(manifest), "corpus.yaml").findings.filter(
      (f) => f.severity === "error",
    );
    const created = await client.create(paths.rollouts(ns), manifest);
    const linted = errors.map((e) => `${e.path}: ${e.message}`);
    if (created.ok) expect(linted, "lint errs where admission accepts").toEqual([]);
    else expect(linted.length, `admission refused: ${created.error.message}`).toBeGreaterThan(0);
  });
});
