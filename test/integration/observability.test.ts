import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { argoHealth } from "./support/argocd.ts";
import {
  eventually,
  newNamespace,
  ok,
  paths,
  repoRoot,
  rolloutManifest,
} from "./support/cluster.ts";
import { Podinfo, type RolloutJson, withController } from "./support/rollouts.ts";

const world = withController();
const health = argoHealth();
async function scrape(): Promise<string> {
  const port = await world.controller.metricsPort();
  return (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
}

describe("the Argo CD health check on live Rollouts", () => {
  test("Healthy, Suspended while paused, Degraded once aborted or failed or refused", async () => {
    const { p, initial } = await Podinfo.healthy(world.client, "argo", [
      { setWeight: 20 },
      { pause: {} },
    ]);
    expect(await health(initial)).toEqual({
      status: "Healthy",
      message: `Healthy: revision ${initial.status?.stableRevision} serves all traffic`,
    });

    await p.newRevision("2");
    expect(await health(await p.phase("Paused"))).toEqual({
      status: "Suspended",
      message: "Paused: paused at step 2/2",
    });

    await p.annotate({ "fledge.dev/abort": "1" });
    expect(await health(await p.phase("Aborted"))).toMatchObject({
      status: "Degraded",
      message: expect.stringMatching(/^Aborted: aborted by a person/),
    });

    const ns = await newNamespace(world.client, "argo-invalid");
    ok(
      await world.client.create(
        paths.rollouts(ns),
        rolloutManifest(ns, "ghost", {
          targetRef: { name: "ghost" },
          service: { port: 80 },
          steps: [{ setWeight: 50 }],
        }),
      ),
      "rollout",
    );
    expect(
      await health({
        apiVersion: "fledge.dev/v1alpha1",
        kind: "Rollout",
        metadata: { name: "ghost", namespace: ns },
      }),
    ).toEqual({
      status: "Progressing",
      message: "waiting for the Fledge controller to report status",
    });
    const refused = await eventually("SpecValid False for the missing target", async () => {
      const r = ok(await world.client.get<RolloutJson>(`${paths.rollouts(ns)}/ghost`), "get");
      return r.status?.conditions?.some((c) => c.type === "SpecValid" && c.status === "False")
        ? r
        : undefined;
    });
    expect(await health(refused)).toMatchObject({
      status: "Degraded",
      message: expect.stringMatching(/^TargetNotFound: /),
    });
    // The user mends the spec; until the controller observes it, the refusal is old news and
    // must not fail a sync: the object as the apiserver returns it from the edit reads Progressing.
    const mended = ok(
      await world.client.patch<RolloutJson>(`${paths.rollouts(ns)}/ghost`, {
        spec: { targetRef: { name: "ghost-fixed" } },
      }),
      "patch",
    );
    expect(
      mended.status?.conditions?.some((c) => c.type === "SpecValid" && c.status === "False"),
    ).toBe(true);
    expect(await health(mended)).toEqual({
      status: "Progressing",
      message: "waiting for the controller to observe the latest spec",
    });
  });
});

describe("the controller's /metrics", () => {
  test("phase per rollout, canary weight, checks by metric and outcome, reconciles, queue, errors", async () => {
    const { p } = await Podinfo.healthy(
      world.client,
      "metrics",
      [{ setWeight: 20 }, { pause: {} }],
      {
        analysis: {
          interval: "1s",
          errorLimit: 2,
          metrics: [{ name: "request-success-rate", thresholdRange: { min: 99 } }],
        },
      },
    );
    await p.newRevision("2");
    // Nothing serves TrafficMetrics here, so every check errors and the canary is rolled back.
    await p.phase("Failed");
    const labels = `namespace="${p.ns}",name="podinfo"`;
    const text = await eventually("the metrics of the failed rollout", async () => {
      const t = await scrape();
      return t.includes(`fledge_rollout_phase{${labels},phase="Failed"} 1`) ? t : undefined;
    });
    expect(text).toContain(`fledge_rollout_phase{${labels},phase="Healthy"} 0`);
    expect(text).toContain(`fledge_rollout_phase{${labels},phase="Progressing"} 0`);
    expect(text).toContain(`fledge_rollout_canary_weight_percent{${labels}} 0`);
    const errored = new RegExp(
      `^fledge_analysis_checks_total\\{${labels},metric="request-success-rate",outcome="errored"\\} (\\d+)$`,
      "m",
    ).exec(text);
    expect(Number(errored?.[1])).toBeGreaterThanOrEqual(2);
    expect(
      Number(/^fledge_reconcile_duration_seconds_count (\d+)$/m.exec(text)?.[1]),
    ).toBeGreaterThan(0);
    expect(text).toMatch(/^fledge_workqueue_depth \d+$/m);
    expect(text).toMatch(/^fledge_reconcile_errors_total \d+$/m);
  });

  test("every metric the Grafana dashboard queries is one the controller exports", async () => {
    const dashboard = JSON.parse(
      readFileSync(join(repoRoot, "deploy/grafana-dashboard.json"), "utf8"),
    ) as {
      panels: { title: string; targets: { expr: string }[] }[];
      templating: { list: { query?: unknown }[] };
    };
    const exprs = [
      ...dashboard.panels.flatMap((panel) => panel.targets.map((t) => t.expr)),
      ...dashboard.templating.list.map((v) => JSON.stringify(v.query ?? "")),
    ];
    const queried = new Set(
      exprs.flatMap((e) =>
        [...e.matchAll(/\bfledge_\w+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, "")),
      ),
    );
    const exported = new Set(
      [...(await scrape()).matchAll(/^# TYPE (fledge_\w+) /gm)].map((m) => m[1]),
    );
    expect(queried.size).toBeGreaterThanOrEqual(6);
    expect([...queried].filter((name) => !exported.has(name))).toEqual([]);
  });
});
