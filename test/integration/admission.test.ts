import { beforeAll, describe, expect, test } from "vitest";
import type { KubeClient } from "../../src/kube/client.ts";
import { adminClient, newNamespace, ok, paths, rolloutManifest } from "./support/cluster.ts";
import { base, MALFORMED } from "./support/malformed.ts";

let client: KubeClient;
let ns: string;

beforeAll(async () => {
  client = await adminClient();
  ns = await newNamespace(client, "admission");
});

describe("the CRD rejects malformed Rollouts at admission, naming the field or rule", () => {
  test.each(MALFORMED)("%s", async (_, change, message) => {
    const spec = { ...base, ...change };
    for (const [k, v] of Object.entries(change))
      if (v === undefined) delete (spec as Record<string, unknown>)[k];
    const result = await client.create(
      paths.rollouts(ns),
      rolloutManifest(ns, `bad-${Math.random().toString(36).slice(2, 8)}`, spec),
    );
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.error.status).toBe(422);
      expect(result.error.message).toContain(message);
    }
  });

  test("the design's example is accepted and defaulted by the apiserver", async () => {
    const created = ok(
      await client.create<{
        spec: {
          analysis: { interval: string; failureLimit: number };
          progressDeadlineSeconds: number;
        };
      }>(
        paths.rollouts(ns),
        rolloutManifest(ns, "good", {
          ...base,
          analysis: { metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }] },
        }),
      ),
      "create",
    );
    expect(created.spec.analysis).toMatchObject({ interval: "1m", failureLimit: 3 });
    expect(created.spec.progressDeadlineSeconds).toBe(600);
  });
});
