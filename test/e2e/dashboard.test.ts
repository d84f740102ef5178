// The Grafana dashboard's queries, run by a real Prometheus scraping a real controller through a
// rollout: each is valid PromQL over labels that exist, and every panel shows data. (Grafana
// itself is not here; what it would send Prometheus is.)

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { KubeClient } from "../../src/kube/client.ts";
import { type Prometheus, startPrometheus } from "../harness/prometheus.ts";
import { adminClient, eventually, repoRoot } from "../integration/support/cluster.ts";
import {
  controllerKubeconfig,
  type RunningController,
  startController,
  tempDir,
} from "../integration/support/controller.ts";
import { Podinfo } from "../integration/support/rollouts.ts";

type Target = { expr: string; instant?: boolean; range?: boolean; format?: string };
type Dashboard = {
  panels: { title: string; type: string; datasource: { uid: string }; targets: Target[] }[];
  templating: { list: { name: string; type: string; query?: { query: string } }[] };
};
type Answer = { status: string; error?: string; data?: { result?: unknown[] } | string[] };

const dashboard = JSON.parse(
  readFileSync(join(repoRoot, "deploy/grafana-dashboard.json"), "utf8"),
) as Dashboard;

let client: KubeClient;
let controller: RunningController;
let prometheus: Prometheus;
const tmp = tempDir();

beforeAll(async () => {
  client = await adminClient();
  controller = startController(await controllerKubeconfig(tmp.dir), tmp.dir, [], "info");
  const port = await controller.metricsPort();
  prometheus = await startPrometheus({ targets: [`http://127.0.0.1:${port}/metrics`] });
});

afterAll(async () => {
  await controller?.kill();
  await prometheus?.close();
  if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
});

async function query(expr: string): Promise<Answer> {
  const url = `${prometheus.url}/api/v1/query?query=${encodeURIComponent(expr)}`;
  return (await fetch(url)).json() as Promise<Answer>;
}

/** Grafana's variables as "All" selects them. */
const withAll = (expr: string) => expr.replaceAll("$namespace", ".*").replaceAll("$rollout", ".*");

describe("the Grafana dashboard on a real Prometheus", () => {
  test("every panel's queries answer, with data, once a rollout has run", async () => {
    // A check every second, on TrafficMetrics (served through the apiserver on this tier), so
    // the checks panel has series whatever their outcome.
    const { p } = await Podinfo.healthy(
      client,
      "dashboard",
      [{ setWeight: 50 }, { pause: { duration: "2s" } }],
      {
        analysis: {
          interval: "1s",
          metrics: [{ name: "request-success-rate", thresholdRange: { min: 90 } }],
        },
      },
    );
    await p.newRevision("2");
    await eventually("a check of the new revision", async () => {
      const r = (await p.rollout()) as { status?: { metrics?: unknown[] } };
      return r.status?.metrics?.length ? r : undefined;
    });

    for (const panel of dashboard.panels) {
      const answers = await eventually(
        `data for panel "${panel.title}"`,
        async () => {
          const all = await Promise.all(panel.targets.map((t) => query(withAll(t.expr))));
          for (const a of all)
            expect(a, `a query of panel "${panel.title}"`).toMatchObject({ status: "success" });
          const rows = all.reduce(
            (n, a) => n + ((a.data as { result?: unknown[] }).result?.length ?? 0),
            0,
          );
          return rows > 0 ? all : undefined;
        },
        30_000,
      );
      expect(answers.length).toBe(panel.targets.length);
    }

    // Grafana draws a table from an instant query in table format: one row per series, its
    // labels as columns; a range query would stack every sample of the window instead.
    for (const panel of dashboard.panels.filter((x) => x.type === "table"))
      for (const t of panel.targets)
        expect(t, `panel "${panel.title}"`).toMatchObject({
          instant: true,
          range: false,
          format: "table",
        });
    // Every panel reads the data source the importer picks in the one variable named for it.
    const [source] = dashboard.templating.list.filter((v) => v.type === "datasource");
    expect(source?.name).toBe("datasource");
    // biome-ignore lint/suspicious/noTemplateCurlyInString: Grafana's variable syntax
    for (const panel of dashboard.panels) expect(panel.datasource.uid).toBe("${datasource}");

    const namespaces = (await (
      await fetch(`${prometheus.url}/api/v1/label/namespace/values?match[]=fledge_rollout_phase`)
    ).json()) as Answer;
    expect(namespaces.data).toContain(p.ns);
    // The variables' label_values() name a metric and label that exist.
    for (const variable of dashboard.templating.list.filter((v) => v.type === "query"))
      expect(variable.query?.query).toMatch(
        /^label_values\(fledge_rollout_phase(\{[^}]*\})?, (namespace|name)\)$/,
      );
  });
});
