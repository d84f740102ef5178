// Shared analysis on the real control plane: templates served by crds/' CRDs, read by the
// controller under deploy/'s ClusterRole, their checks run through a loopback webhook.

import { randomBytes } from "node:crypto";
import { describe, expect, it } from "vitest";
import { eventually, eventWith, ok } from "./support/cluster.ts";
import { loopbackServer } from "./support/loopback.ts";
import { Podinfo, type RolloutJson, withController } from "./support/rollouts.ts";

const world = withController();
const TEMPLATES = "/apis/fledge.dev/v1alpha1";
const clusterTemplates = `${TEMPLATES}/clusteranalysistemplates`;
const analysisTemplates = (ns: string) => `${TEMPLATES}/namespaces/${ns}/analysistemplates`;

/** A loopback check every webhook passes, keeping the path each was called at. */
const calledAt: string[] = [];
const hook = loopbackServer((req, res) => {
  calledAt.push(req.url ?? "");
  req.resume();
  req.on("end", () => res.writeHead(200).end());
});

type Checked = {
  name: string;
  outcome: string;
  template?: { kind: string; name: string; generation: number };
};
const metricsOf = (r: RolloutJson) => (r.status as { metrics?: Checked[] } | undefined)?.metrics;
const specValid = (r: RolloutJson) => r.status?.conditions?.find((c) => c.type === "SpecValid");

/** A template whose one check is a rollout webhook at /{{args.app}} on the loopback server. */
const smokeSpec = (path = "{{args.app}}") => ({
  args: [{ name: "app" }, { name: "port", value: String(hook.port) }],
  webhooks: [{ name: "smoke", type: "rollout", url: `http://127.0.0.1:{{args.port}}/${path}` }],
});

describe("shared analysis templates", () => {
  it("a Rollout naming a missing template is held with TemplateNotFound; creating the template alone clears it", async () => {
    const p = await Podinfo.create(world.client, "tmpl-missing", [{ setWeight: 50 }], {
      analysis: { interval: "1s", templates: [{ name: "smoke", args: { app: "missing" } }] },
    });
    const held = await eventually("TemplateNotFound", async () => {
      const r = await p.rollout();
      return specValid(r)?.reason === "TemplateNotFound" ? r : undefined;
    });
    expect(specValid(held)).toMatchObject({
      status: "False",
      message: `AnalysisTemplate ${p.ns}/smoke does not exist (the AnalysisTemplates in ${p.ns}: none)`,
    });
    expect(await eventWith(world.client, p.ns, "TemplateNotFound", "Warning")).toMatchObject({
      message: held.status?.message,
    });
    // Held: nothing made for it, so no primary.
    expect(await p.replicas("podinfo-primary")).toBeUndefined();

    ok(
      await world.client.create(analysisTemplates(p.ns), {
        apiVersion: "fledge.dev/v1alpha1",
        kind: "AnalysisTemplate",
        metadata: { name: "smoke", namespace: p.ns },
        spec: smokeSpec(),
      }),
      "create the template",
    );
    const healthy = await p.phase("Healthy");
    expect(specValid(healthy)).toMatchObject({ status: "True" });
  });

  it("the CRD refuses at admission what its schema can see: the Rollout's metric rules, an arg's name", async () => {
    const refused = async (spec: Record<string, unknown>) => {
      const got = await world.client.create(clusterTemplates, {
        apiVersion: "fledge.dev/v1alpha1",
        kind: "ClusterAnalysisTemplate",
        metadata: { name: `bad-${randomBytes(3).toString("hex")}` },
        spec,
      });
      if (got.ok) throw new Error("admitted");
      return got.error.message;
    };
    expect(await refused({ metrics: [{ name: "request-success-rate" }] })).toContain(
      "a metric has exactly one of thresholdRange or compare",
    );
    expect(await refused({ args: [{ name: "1st" }] })).toContain("spec.args[0].name");
  });

  it("a ClusterAnalysisTemplate judges two Rollouts with their own args; an edit judges the next check, a broken one holds both at their weight until mended", async () => {
    const name = `smoke-${randomBytes(3).toString("hex")}`;
    ok(
      await world.client.create(clusterTemplates, {
        apiVersion: "fledge.dev/v1alpha1",
        kind: "ClusterAnalysisTemplate",
        metadata: { name },
        spec: smokeSpec(),
      }),
      "create the cluster template",
    );
    try {
      const uses = (app: string) => ({
        analysis: { interval: "1s", templates: [{ name, clusterScope: true, args: { app } }] },
      });
      // Checks at 20% until a person says otherwise, so each interval is one more check.
      const steps = [{ setWeight: 20 }, { analysis: { passes: 1000 } }];
      const [a, b] = await Promise.all(
        ["cart", "shop"].map(
          async (app) => (await Podinfo.healthy(world.client, `tmpl-${app}`, steps, uses(app))).p,
        ),
      );
      if (!a || !b) throw new Error("two rollouts");
      await Promise.all([a.newRevision("2"), b.newRevision("2")]);
      const checkedAt = (p: Podinfo, generation: number) =>
        eventually(`${p.ns}: a check by generation ${generation}`, async () =>
          metricsOf(await p.rollout())?.find(
            (m) => m.name === "smoke" && m.template?.generation === generation,
          ),
        );
      for (const p of [a, b])
        expect(await checkedAt(p, 1)).toMatchObject({
          outcome: "passed",
          template: { kind: "ClusterAnalysisTemplate", name, generation: 1 },
        });
      expect(calledAt).toEqual(expect.arrayContaining(["/cart", "/shop"]));

      const path = `${clusterTemplates}/${name}`;
      const current = ok(await world.client.get<{ metadata: object }>(path), "get the template");
      ok(
        await world.client.patch(path, { spec: smokeSpec("v2/{{args.app}}") }),
        "edit the template",
      );
      for (const p of [a, b]) expect(await checkedAt(p, 2)).toMatchObject({ outcome: "passed" });
      expect(calledAt).toEqual(expect.arrayContaining(["/v2/cart", "/v2/shop"]));
      expect(current.metadata).toMatchObject({ generation: 1 });
      for (const p of [a, b]) expect((await p.rollout()).status?.phase).toBe("Progressing");
      expect(await a.weight()).toBe(20);

      // Broken mid-rollout: both held where they are, neither passed on nor rolled back.
      ok(
        await world.client.patch(path, { spec: smokeSpec("{{args.missing}}") }),
        "break the template",
      );
      for (const p of [a, b]) {
        const held = await eventually(`${p.ns}: TemplateInvalid`, async () => {
          const r = await p.rollout();
          return specValid(r)?.reason === "TemplateInvalid" ? r : undefined;
        });
        expect(specValid(held)?.message).toBe(
          `ClusterAnalysisTemplate ${name}: webhooks[0].url uses {{args.missing}}; the args are {{args.app}}, {{args.port}}`,
        );
        expect(held.status).toMatchObject({ phase: "Progressing", canaryWeight: 20 });
        expect(await p.weight()).toBe(20);
      }
      ok(await world.client.patch(path, { spec: smokeSpec() }), "mend the template");
      for (const p of [a, b]) expect(await checkedAt(p, 4)).toMatchObject({ outcome: "passed" });
      for (const p of [a, b]) expect(specValid(await p.rollout())?.status).toBe("True");
    } finally {
      await world.client.delete(`${clusterTemplates}/${name}`);
    }
    // Two rollouts brought up and checked, on a loaded machine: a limit for hangs, not speed.
  }, 180_000);
});
