import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ANNOTATIONS } from "../../src/api/rollout.ts";
import {
  CHECKS,
  describePermission,
  httpRouteCheck,
  prometheusCheck,
  requiredAccess,
  templatesCheck,
} from "../../src/cli/check.ts";
import { connect } from "../../src/cli/connect.ts";
import { formatted, processIo } from "../../src/cli/output.ts";
import {
  type CliRollout,
  COLOURS,
  PLAIN,
  renderChecks,
  renderList,
  renderRollout,
  renderSummary,
  weightBar,
} from "../../src/cli/render.ts";
import { steering } from "../../src/cli/steer.ts";
import { redraw, rowsOf, untilSettled } from "../../src/cli/watch.ts";
import { KubeClient, type KubeResult } from "../../src/kube/client.ts";

const NOW = Date.parse("2026-11-25T10:00:00Z");
const ago = (seconds: number) => new Date(NOW - seconds * 1000).toISOString();

const rollout = (status: CliRollout["status"], name = "podinfo"): CliRollout => ({
  metadata: { name, namespace: "shop", creationTimestamp: ago(3600 * 3) },
  spec: {
    steps: [{ setWeight: 10 }, { pause: {} }, { setWeight: 50 }, { pause: { duration: "1m" } }],
    analysis: {
      metrics: [
        { name: "request-success-rate", thresholdRange: { min: 99 } },
        { name: "request-duration-p99-ms", thresholdRange: { max: 500 } },
      ],
    },
  },
  status,
});

const progressing = rollout({
  phase: "Progressing",
  message: "step 3/4, canary weight 50%",
  stableRevision: "5d8f7c9b6",
  canaryRevision: "7f6d5c4b3",
  currentStepIndex: 2,
  stepCount: 4,
  canaryWeight: 50,
  failedChecks: 1,
  erroredChecks: 2,
  inconclusiveChecks: 0,
  metrics: [
    { name: "request-success-rate", outcome: "passed", value: 99.5123, checkedAt: ago(10) },
    {
      name: "request-duration-p99-ms",
      outcome: "failed",
      value: 612,
      message: "612 > max 500",
      checkedAt: ago(10),
    },
  ],
});

describe("the rollout view", () => {
  it("shows phase, step i of n, the weight as a bar, each metric against its threshold, checks, revisions and Events", () => {
    const text = renderRollout(
      progressing,
      [
        { type: "Normal", reason: "StepAdvanced", message: "weight 50%", lastTimestamp: ago(30) },
        {
          type: "Warning",
          reason: "CheckFailed",
          message: "request-duration-p99-ms 612 > max 500",
          lastTimestamp: ago(10),
        },
      ],
      PLAIN,
      NOW,
    );
    expect(text).toBe(
      [
        "Name:       shop/podinfo",
        "Phase:      Progressing  step 3/4, canary weight 50%",
        "Step:       3/4",
        "Weight:     [##########..........] 50% canary",
        "Stable:     5d8f7c9b6",
        "Canary:     7f6d5c4b3",
        "Checks:     1 failed, 2 errored, 0 inconclusive",
        "Metrics:",
        "  request-success-rate          99.51  (threshold >= 99)   passed",
        "  request-duration-p99-ms         612  (threshold <= 500)  failed  612 > max 500",
        "Events:",
        "   30s  StepAdvanced              weight 50%",
        "   10s  CheckFailed                         request-duration-p99-ms 612 > max 500",
        "",
      ].join("\n"),
    );
  });

  it("says a blue/green rollout is one, its steps the preview's", () => {
    const blueGreen = rollout({
      phase: "Progressing",
      message: "revision 7f6d5c4b3 runs beside revision 5d8f7c9b6",
      currentStepIndex: 0,
      stepCount: 1,
      canaryWeight: 0,
    });
    blueGreen.spec = { ...blueGreen.spec, strategy: "blueGreen", steps: [] };
    const text = renderRollout(blueGreen, [], PLAIN, NOW);
    expect(text).toContain("Strategy:   blue/green (step 1/1 of the preview)\n");
    expect(text).not.toContain("Step:");
  });

  it("says a metric has not been checked yet, and shows no step outside a rollout", () => {
    const text = renderRollout(
      rollout({ phase: "Healthy", stableRevision: "5d8f7c9b6", canaryWeight: 0, stepCount: 4 }),
      [],
      PLAIN,
      NOW,
    );
    expect(text).toContain("Step:       -\n");
    expect(text).toContain("Weight:     [....................] 0% canary");
    expect(text).toMatch(/request-success-rate +- +\(threshold >= 99\) +not checked yet/);
    expect(text).not.toContain("Events:");
  });

  it("shows a compared metric with its class and shift against the primary, and the score against its thresholds", () => {
    const judged = rollout({
      phase: "Failed",
      canaryWeight: 0,
      metrics: [
        {
          name: "canary-score",
          outcome: "failed",
          value: 50,
          checkedAt: ago(5),
          compared: [
            {
              name: "request-duration-p50-ms",
              classification: "High",
              bad: true,
              p: 0.00123,
              relative: { estimate: 0.183, lower: 0.12, upper: 0.241 },
            },
            { name: "request-success-rate", classification: "Pass", bad: false, p: 0.61 },
          ],
        },
      ],
    });
    judged.spec = {
      steps: [],
      analysis: {
        metrics: [
          {
            name: "request-duration-p50-ms",
            compare: { direction: "increase-is-bad", tolerance: 10 },
          },
          { name: "request-success-rate", compare: { direction: "decrease-is-bad", tolerance: 1 } },
          { name: "request-duration-p99-ms", thresholdRange: { max: 500 } },
        ],
        scoreThresholds: { pass: 90, marginal: 60 },
      },
    };
    const text = renderRollout(judged, [], PLAIN, NOW);
    expect(text.split("\n").filter((l) => l.startsWith("  "))).toEqual([
      "  request-duration-p50-ms        +18%  (vs primary, increase-is-bad beyond 10%)  High  +18% (95% CI +12%..+24%), p=0.0012",
      "  request-success-rate              -  (vs primary, decrease-is-bad beyond 1%)   Pass",
      "  request-duration-p99-ms           -  (threshold <= 500)                        not checked yet",
      "  canary-score                     50  (pass >= 90, fail < 60)                   failed",
    ]);
  });

  it("shows a template's metric beside the Rollout's own, with the template and generation that judged it", () => {
    const template = { kind: "ClusterAnalysisTemplate" as const, name: "latency", generation: 3 };
    const text = renderRollout(
      rollout({
        ...progressing.status,
        metrics: [
          ...(progressing.status?.metrics ?? []),
          { name: "latency-ms", outcome: "passed", value: 87, template, checkedAt: ago(10) },
        ],
      }),
      [],
      PLAIN,
      NOW,
    );
    expect(text).toContain(
      [
        "  request-success-rate          99.51  (threshold >= 99)                    passed",
        "  request-duration-p99-ms         612  (threshold <= 500)                   failed  612 > max 500",
        "  latency-ms                       87  (ClusterAnalysisTemplate/latency@3)  passed",
      ].join("\n"),
    );
  });

  it("shows a template's compared metric inside the score, and the check of the weight the mesh served", () => {
    const template = { kind: "AnalysisTemplate" as const, name: "judge", generation: 2 };
    const text = renderRollout(
      rollout({
        phase: "Progressing",
        metrics: [
          {
            name: "canary-score",
            outcome: "passed",
            value: 100,
            checkedAt: ago(5),
            compared: [
              {
                name: "latency-p50",
                classification: "Pass",
                bad: false,
                p: 0.4,
                relative: { estimate: 0.02, lower: -0.03, upper: 0.06 },
                template,
              },
            ],
          },
          {
            name: "traffic-weight",
            outcome: "inconclusive",
            message: "canary served 0.0% of 412 requests; the route says 40%",
            checkedAt: ago(5),
          },
        ],
      }),
      [],
      PLAIN,
      NOW,
    );
    expect(text).toMatch(
      / {2}traffic-weight +- +\(the route's weight\) +inconclusive {2}canary served 0\.0% of 412/,
    );
    expect(text).toMatch(
      / {2}latency-p50 +\+2% +\(vs primary, AnalysisTemplate\/judge@2\) +Pass {2}\+2% \(95% CI -3%\.\.\+6%\), p=0\.40/,
    );
    expect(text).toMatch(/ {2}canary-score +100 +\(pass >= 95, fail < 75\) +passed/);
  });

  it("colours the phase and outcomes only when asked", () => {
    const text = renderRollout(progressing, [], COLOURS, NOW);
    expect(text).toContain("\u001b[31mfailed\u001b[0m");
    expect(text).toContain("\u001b[32mpassed\u001b[0m");
    expect(renderRollout(progressing, [], PLAIN, NOW)).not.toContain("\u001b[");
  });

  it("draws the weight bar in proportion, clamped to 0..100", () => {
    expect(weightBar(0, 10)).toBe("[..........]");
    expect(weightBar(25, 4)).toBe("[#...]");
    expect(weightBar(100, 10)).toBe("[##########]");
    expect(weightBar(140, 4)).toBe("[####]");
  });

  it("lists rollouts one per line, with the namespace column only for -A", () => {
    const rows = [progressing, rollout({ phase: "Healthy", canaryWeight: 0 }, "cart")];
    expect(renderList(rows, false, NOW)).toBe(
      [
        "NAME      PHASE         STEP   WEIGHT   AGE",
        "podinfo   Progressing   3/4    50%      3h",
        "cart      Healthy       -      0%       3h",
        "",
      ].join("\n"),
    );
    expect(renderList(rows, true, NOW).split("\n")[0]).toBe(
      "NAMESPACE   NAME      PHASE         STEP   WEIGHT   AGE",
    );
  });

  it("summarises the state after a steering command on one line", () => {
    expect(renderSummary(progressing, PLAIN)).toBe(
      "Progressing  step 3/4  canary 50%  step 3/4, canary weight 50%",
    );
  });

  it("colours only on a terminal, and never with NO_COLOR set", () => {
    const tty = process.stdout.isTTY;
    const noColor = process.env.NO_COLOR;
    const paintWith = (isTTY: boolean, NO_COLOR: string | undefined) => {
      process.stdout.isTTY = isTTY;
      if (NO_COLOR === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = NO_COLOR;
      return processIo().paint;
    };
    try {
      expect(paintWith(true, undefined)).toBe(COLOURS);
      expect(paintWith(true, "1")).toBe(PLAIN);
      expect(paintWith(false, undefined)).toBe(PLAIN);
    } finally {
      process.stdout.isTTY = tty;
      if (noColor === undefined) delete process.env.NO_COLOR;
      else process.env.NO_COLOR = noColor;
    }
  });

  it("prints objects as JSON or YAML for scripts", () => {
    expect(JSON.parse(formatted(progressing, "json"))).toEqual(progressing);
    expect(formatted({ a: 1 }, "yaml")).toBe("a: 1\n");
  });
});

/** A terminal just big enough for these tests: text, newlines, cursor home, up-lines and clear-down. */
const ESC = "\u001b";
const CONTROL = new RegExp(`(${ESC}\\[\\d*[FHJ]|\\n)`);
function screen(writes: string[]): string {
  const lines: string[] = [""];
  let row = 0;
  for (const token of writes.join("").split(CONTROL)) {
    if (token === "\n") lines[++row] ??= "";
    else if (token === `${ESC}[J`) lines.splice(row, Infinity, "");
    else if (token === `${ESC}[H`) row = 0;
    else if (token.startsWith(`${ESC}[`) && token.endsWith("F"))
      row = Math.max(0, row - Number(token.slice(2, -1) || 1));
    else lines[row] += token;
  }
  return lines.join("\n");
}

describe("the --watch view", () => {
  const frames = [
    rollout({ phase: "Progressing", currentStepIndex: 0, stepCount: 4, canaryWeight: 10 }),
    rollout({
      phase: "Paused",
      currentStepIndex: 1,
      stepCount: 4,
      canaryWeight: 10,
      pauseReasons: [{ reason: "Step", since: ago(5) }],
    }),
    rollout({ phase: "Progressing", currentStepIndex: 2, stepCount: 4, canaryWeight: 50 }),
    rollout({ phase: "Healthy", stableRevision: "7f6d5c4b3", canaryWeight: 0, stepCount: 4 }),
  ].map((r) => renderRollout(r, [], PLAIN, NOW));

  const play = (terminal: { columns: number; rows: number } | undefined) => {
    const writes: string[] = [];
    let previous: string | undefined;
    for (const frame of frames) {
      writes.push(redraw(previous, frame, terminal));
      previous = frame;
    }
    return writes;
  };

  it("redraws each frame in place on a terminal, leaving only the last on screen", () => {
    const writes = play({ columns: 200, rows: 50 });
    // The pause frame is one line longer (its Paused: line); the next frame must not leave it behind.
    expect(frames[1]?.split("\n").length).toBe((frames[2]?.split("\n").length ?? 0) + 1);
    expect(screen(writes)).toBe(frames[3]);
    for (let i = 1; i <= frames.length; i++) expect(screen(writes.slice(0, i))).toBe(frames[i - 1]);
  });

  it("clears the screen instead when the last frame was taller than it", () => {
    const writes = play({ columns: 200, rows: 8 });
    expect(writes[1]?.startsWith("\u001b[H\u001b[J")).toBe(true);
    expect(screen(writes)).toBe(frames[3]);
  });

  it("appends frames a blank line apart when stdout is not a terminal", () => {
    const text = play(undefined).join("");
    expect(text).toBe(frames.join("\n"));
    expect(text).not.toContain("\u001b");
    expect(text.match(/^Phase:.*$/gm)).toEqual([
      "Phase:      Progressing",
      "Phase:      Paused",
      "Phase:      Progressing",
      "Phase:      Healthy",
    ]);
  });

  it("counts wrapped lines as the rows they take, ignoring colour codes", () => {
    expect(rowsOf("abc\ndef\n", 80)).toBe(2);
    expect(rowsOf(`${"x".repeat(81)}\n`, 80)).toBe(2);
    expect(rowsOf(`${COLOURS.red("x".repeat(80))}\n\n`, 80)).toBe(2);
  });

  it("ends once the rollout rests after moving, and follows a resting rollout through its next one", () => {
    const inFlight = untilSettled(rollout({ phase: "Progressing", stableRevision: "a" }));
    expect(inFlight(rollout({ phase: "Paused", stableRevision: "a" }))).toBe(false);
    expect(inFlight(rollout({ phase: "Failed", stableRevision: "a" }))).toBe(true);

    const resting = untilSettled(rollout({ phase: "Healthy", stableRevision: "a" }));
    expect(resting(rollout({ phase: "Healthy", stableRevision: "a" }))).toBe(false);
    expect(resting(rollout({ phase: "Progressing", stableRevision: "a" }))).toBe(false);
    expect(resting(rollout({ phase: "Healthy", stableRevision: "b" }))).toBe(true);
    // A promotion seen only in its result still counts as having moved.
    const quick = untilSettled(rollout({ phase: "Healthy", stableRevision: "a" }));
    expect(quick(rollout({ phase: "Healthy", stableRevision: "b" }))).toBe(true);
  });
});

describe("steering annotations", () => {
  const id = "2026-11-25T10:00:00.000Z";

  it("pause sets the level annotation and is applied once status shows a person's pause", () => {
    const s = steering("pause", progressing, id);
    expect(s.annotations).toEqual({ [ANNOTATIONS.pause]: "true" });
    expect(s.applied(progressing)).toBe(false);
    expect(
      s.applied(rollout({ phase: "Paused", pauseReasons: [{ reason: "Person", since: id }] })),
    ).toBe(true);
  });

  it("one-shot actions carry the id and are applied when status records that id", () => {
    for (const [command, annotation] of [
      ["promote", ANNOTATIONS.promote],
      ["promoteFull", ANNOTATIONS.promoteFull],
      ["abort", ANNOTATIONS.abort],
      ["retry", ANNOTATIONS.retry],
    ] as const) {
      const s = steering(command, progressing, id);
      expect(s.annotations).toEqual({ [annotation]: id });
      expect(s.done).toEqual([`set ${annotation}=${id}`]);
      expect(s.applied(rollout({ appliedActions: { [command]: "an older id" } }))).toBe(false);
      expect(s.applied(rollout({ appliedActions: { [command]: id } }))).toBe(true);
    }
  });

  it("resume removes a person's pause, and sends the one-shot resume only when a step or analysis holds the rollout", () => {
    const byPerson = rollout({ phase: "Paused", pauseReasons: [{ reason: "Person", since: id }] });
    expect(steering("resume", byPerson, id).annotations).toEqual({ [ANNOTATIONS.pause]: null });

    const byStep = rollout({
      phase: "Paused",
      pauseReasons: [
        { reason: "Person", since: id },
        { reason: "Step", since: id },
      ],
    });
    const s = steering("resume", byStep, id);
    expect(s.annotations).toEqual({ [ANNOTATIONS.pause]: null, [ANNOTATIONS.resume]: id });
    expect(s.applied(rollout({ appliedActions: { resume: id } }))).toBe(true);
    expect(s.applied(byStep)).toBe(false);
  });
});

describe("check", () => {
  const rbac = readFileSync(join(import.meta.dirname, "../../deploy/base/rbac.yaml"), "utf8");

  it("derives what the controller needs from deploy/base/rbac.yaml, verb by verb", () => {
    const { serviceAccount, permissions } = requiredAccess(rbac);
    expect(serviceAccount).toEqual({ namespace: "fledge-system", name: "fledge-controller" });
    const described = permissions.map(
      (p) => `${describePermission(p)}${p.namespaced ? " (namespaced)" : ""}`,
    );
    expect(described).toContain("patch deployments.apps");
    expect(described).toContain("patch rollouts/status.fledge.dev");
    expect(described).toContain("create events");
    expect(described).toContain("update leases.coordination.k8s.io (namespaced)");
    expect(described).not.toContain("delete deployments.apps");
    // A rule naming its objects is asked about each by name: granted for that name only.
    expect(described).toContain(
      "watch customresourcedefinitions.apiextensions.k8s.io trafficsplits.split.smi-spec.io",
    );
    expect(described).toContain(
      "list customresourcedefinitions.apiextensions.k8s.io httproutes.gateway.networking.k8s.io",
    );
    expect(described).not.toContain("list customresourcedefinitions.apiextensions.k8s.io");
    // The Gateway API router reads, makes and merge-patches HTTPRoutes; it never replaces one.
    for (const verb of ["get", "list", "watch", "create", "patch"])
      expect(described).toContain(`${verb} httproutes.gateway.networking.k8s.io`);
    expect(described).not.toContain("update httproutes.gateway.networking.k8s.io");
    expect(described).not.toContain("delete httproutes.gateway.networking.k8s.io");
  });

  it("renders one line per item with its reason", () => {
    expect(
      renderChecks(
        [
          { name: "crd", outcome: "ok", detail: "rollouts.fledge.dev Established" },
          { name: "prometheus", outcome: "fail", detail: "no Prometheus address" },
          { name: "trafficmetrics", outcome: "skip", detail: "skipped (--skip)" },
        ],
        PLAIN,
      ),
    ).toBe(
      [
        "ok    crd             rollouts.fledge.dev Established",
        "fail  prometheus      no Prometheus address",
        "skip  trafficmetrics  skipped (--skip)",
        "",
      ].join("\n"),
    );
  });

  it("fails the Prometheus item with a reason when there is no address or nothing answers", async () => {
    expect(await prometheusCheck(undefined)).toMatchObject({
      outcome: "fail",
      detail: expect.stringContaining("pass --prometheus-address"),
    });
    const server = createServer((_req, res) => res.writeHead(404).end("not here"));
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    expect(await prometheusCheck(address)).toEqual({
      name: "prometheus",
      outcome: "fail",
      detail: `${address} answered HTTP 404 without a query result`,
    });
    await new Promise((resolve) => server.close(resolve));
    expect(await prometheusCheck(address)).toEqual({
      name: "prometheus",
      outcome: "fail",
      detail: `${address} does not answer: connect ECONNREFUSED ${address.slice(7)}`,
    });
  });
});

/** An apiserver that answers GETs from a map of paths, and says what it was asked. */
function answering(objects: Record<string, unknown>) {
  const asked: string[] = [];
  const client = new (class extends KubeClient {
    override async request<T>(
      method: string,
      path: string,
      _body?: unknown,
      _type?: string,
      query?: Record<string, string>,
    ) {
      asked.push(`${method} ${path}${query ? `?${new URLSearchParams(query)}` : ""}`);
      const value = objects[path];
      return (
        value === undefined
          ? { ok: false, error: { status: 404, reason: "NotFound", message: `${path} not found` } }
          : { ok: true, value }
      ) as KubeResult<T>;
    }
  })({} as never);
  return { client, asked };
}

const CRDS = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
const ROUTE_CRD_PATH = `${CRDS}/httproutes.gateway.networking.k8s.io`;

/** The HTTPRoute CRD, its rule schema with or without rules[].name and the mirror's percent. */
function routeCrd(options: { established?: boolean; fields?: boolean; versions?: string[] } = {}) {
  const { established = true, fields = true, versions = ["v1", "v1beta1"] } = options;
  const rule = {
    properties: {
      ...(fields ? { name: {} } : {}),
      filters: {
        items: {
          properties: {
            requestMirror: { properties: { backendRef: {}, ...(fields ? { percent: {} } : {}) } },
          },
        },
      },
    },
  };
  const schema = { properties: { spec: { properties: { rules: { items: rule } } } } };
  return {
    metadata: { name: "httproutes.gateway.networking.k8s.io" },
    spec: {
      versions: versions.map((name) => ({
        name,
        served: true,
        schema: { openAPIV3Schema: schema },
      })),
    },
    status: { conditions: [{ type: "Established", status: established ? "True" : "False" }] },
  };
}

/** An HTTPRoute of a Rollout at generation 2, its one Service parent saying `accepted`. */
function labelledRoute(
  name: string,
  accepted?: { status: string; generation: number; reason?: string },
) {
  const parentRef = { group: "", kind: "Service", name };
  return {
    metadata: { name, namespace: "shop", generation: 2, labels: { "fledge.dev/rollout": name } },
    spec: { parentRefs: [parentRef], rules: [] },
    status: accepted
      ? {
          parents: [
            {
              parentRef,
              controllerName: "mesh.example/gamma",
              conditions: [
                {
                  type: "Accepted",
                  status: accepted.status,
                  reason: accepted.reason ?? "Accepted",
                  observedGeneration: accepted.generation,
                },
              ],
            },
          ],
        }
      : undefined,
  };
}

describe("check httproute", () => {
  it("comes between the SMI items and rbac, and is one --skip may name", () => {
    expect(CHECKS.indexOf("httproute")).toBe(CHECKS.indexOf("httproutegroup") + 1);
    expect(CHECKS.indexOf("rbac")).toBe(CHECKS.indexOf("httproute") + 1);
  });

  it("without the CRD, passes over a cluster whose Rollouts do not use the Gateway API", async () => {
    const { client, asked } = answering({
      "/apis/fledge.dev/v1alpha1/rollouts": {
        items: [{ metadata: { name: "podinfo", namespace: "shop" }, spec: {} }],
      },
    });
    expect(await httpRouteCheck(client, undefined)).toEqual({
      name: "httproute",
      outcome: "skip",
      detail:
        "CustomResourceDefinition httproutes.gateway.networking.k8s.io is not installed; no Rollout in any namespace uses trafficRouting.gatewayAPI",
    });
    expect(asked).toEqual([`GET ${ROUTE_CRD_PATH}`, "GET /apis/fledge.dev/v1alpha1/rollouts"]);
  });

  it("without the CRD, fails when a Rollout uses the Gateway API, naming it", async () => {
    const { client } = answering({
      "/apis/fledge.dev/v1alpha1/namespaces/shop/rollouts": {
        items: [
          {
            metadata: { name: "search", namespace: "shop" },
            spec: { trafficRouting: { smi: {} } },
          },
          {
            metadata: { name: "checkout", namespace: "shop" },
            spec: { trafficRouting: { gatewayAPI: { apiVersion: "auto" } } },
          },
        ],
      },
    });
    expect(await httpRouteCheck(client, "shop")).toEqual({
      name: "httproute",
      outcome: "fail",
      detail:
        "CustomResourceDefinition httproutes.gateway.networking.k8s.io is not installed, but shop/checkout uses trafficRouting.gatewayAPI and reports RoutingUnavailable: install the Gateway API's CRDs",
    });
  });

  it("fails a CRD that is not Established, or serves no version Fledge writes", async () => {
    const notYet = answering({ [ROUTE_CRD_PATH]: routeCrd({ established: false }) });
    expect(await httpRouteCheck(notYet.client, undefined)).toMatchObject({
      outcome: "fail",
      detail: "httproutes.gateway.networking.k8s.io is not Established",
    });
    const alpha = answering({ [ROUTE_CRD_PATH]: routeCrd({ versions: ["v1alpha2"] }) });
    expect(await httpRouteCheck(alpha.client, undefined)).toMatchObject({
      outcome: "fail",
      detail:
        "httproutes.gateway.networking.k8s.io serves none of the versions Fledge speaks (v1beta1, v1)",
    });
  });

  it("counts the Rollouts' routes by what their parents say of the generation written", async () => {
    const { client, asked } = answering({
      [ROUTE_CRD_PATH]: routeCrd(),
      "/apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes": {
        items: [
          labelledRoute("checkout", { status: "True", generation: 2 }),
          labelledRoute("search", { status: "True", generation: 1 }), // an older generation
        ],
      },
    });
    expect(await httpRouteCheck(client, "shop")).toEqual({
      name: "httproute",
      outcome: "ok",
      detail:
        "httproutes.gateway.networking.k8s.io Established, serving v1, v1beta1; 2 HTTPRoutes of Rollouts in namespace shop: 1 accepted by every parent, 0 refused, 1 pending",
    });
    expect(asked[1]).toBe(
      "GET /apis/gateway.networking.k8s.io/v1/namespaces/shop/httproutes?labelSelector=fledge.dev%2Frollout",
    );
  });

  it("fails on a route a parent refused, with the parent's reason", async () => {
    const { client } = answering({
      [ROUTE_CRD_PATH]: routeCrd(),
      "/apis/gateway.networking.k8s.io/v1/httproutes": {
        items: [
          labelledRoute("checkout", { status: "True", generation: 2 }),
          labelledRoute("search", {
            status: "False",
            generation: 2,
            reason: "NotAllowedByListeners",
          }),
        ],
      },
    });
    const item = await httpRouteCheck(client, undefined);
    expect(item.outcome).toBe("fail");
    expect(item.detail).toBe(
      "httproutes.gateway.networking.k8s.io Established, serving v1, v1beta1; 2 HTTPRoutes of Rollouts in any namespace: 1 accepted by every parent, 1 refused, 0 pending: shop/search: Service shop/search (mesh.example/gamma) did not accept generation 2 of HTTPRoute search: NotAllowedByListeners",
    );
  });

  it("fails when no controller has written any route's status, and says what the schema lacks", async () => {
    const { client } = answering({
      [ROUTE_CRD_PATH]: routeCrd({ fields: false, versions: ["v1beta1"] }),
      "/apis/gateway.networking.k8s.io/v1beta1/httproutes": {
        items: [labelledRoute("checkout"), labelledRoute("search")],
      },
    });
    const item = await httpRouteCheck(client, undefined);
    expect(item.outcome).toBe("fail");
    expect(item.detail).toMatch(
      /^httproutes\.gateway\.networking\.k8s\.io Established, serving v1beta1 \(v1beta1 lacks rules\[\]\.name \(A\/B matches\) and requestMirror\.percent \(setMirror\)\); 2 HTTPRoutes of Rollouts in any namespace: 0 accepted by every parent, 0 refused, 2 pending, and no controller has written the status of any of them: /,
    );
  });

  it("passes a Gateway API no Rollout uses yet", async () => {
    const { client } = answering({
      [ROUTE_CRD_PATH]: routeCrd(),
      "/apis/gateway.networking.k8s.io/v1/httproutes": { items: [] },
    });
    expect(await httpRouteCheck(client, undefined)).toMatchObject({
      outcome: "ok",
      detail:
        "httproutes.gateway.networking.k8s.io Established, serving v1, v1beta1; no HTTPRoute of a Rollout in any namespace yet",
    });
  });
});

describe("check templates", () => {
  const established = (plural: string) => ({
    spec: { versions: [{ name: "v1alpha1", served: true }] },
    status: { conditions: [{ type: "Established", status: "True" }] },
    metadata: { name: `${plural}.fledge.dev` },
  });
  const crds = {
    [`${CRDS}/analysistemplates.fledge.dev`]: established("analysistemplates"),
    [`${CRDS}/clusteranalysistemplates.fledge.dev`]: established("clusteranalysistemplates"),
  };
  const metric = { name: "request-success-rate", thresholdRange: { min: 99 } };

  it("counts each kind's templates and names those that fail their schema", async () => {
    const { client } = answering({
      ...crds,
      "/apis/fledge.dev/v1alpha1/namespaces/shop/analysistemplates": {
        items: [
          { metadata: { name: "good", namespace: "shop" }, spec: { metrics: [metric] } },
          {
            metadata: { name: "bad", namespace: "shop" },
            spec: { metrics: [{ ...metric, thresholdRange: undefined }], args: [{ name: "1x" }] },
          },
        ],
      },
      "/apis/fledge.dev/v1alpha1/clusteranalysistemplates": {
        items: [{ metadata: { name: "latency" }, spec: { metrics: [metric] } }],
      },
    });
    expect(await templatesCheck(client, "shop")).toEqual({
      name: "templates",
      outcome: "fail",
      detail: expect.stringMatching(
        /^2 AnalysisTemplates in namespace shop, 1 ClusterAnalysisTemplate; 1 invalid: AnalysisTemplate shop\/bad: spec: args\[0\]\.name: /,
      ),
    });
  });

  it("asks again while the apiserver makes a kind's storage (429), as on the first request after applying crds/", async () => {
    const { client, asked } = answering({
      ...crds,
      "/apis/fledge.dev/v1alpha1/analysistemplates": { items: [] },
      "/apis/fledge.dev/v1alpha1/clusteranalysistemplates": { items: [] },
    });
    let refusals = 2;
    const initializing = new (class extends KubeClient {
      override async request<T>(method: string, path: string) {
        if (path.endsWith("/analysistemplates") && refusals-- > 0)
          return {
            ok: false,
            error: {
              status: 429,
              reason: "TooManyRequests",
              message: "storage is (re)initializing",
            },
          } as KubeResult<T>;
        return client.request<T>(method, path);
      }
    })({} as never);
    expect(await templatesCheck(initializing, undefined)).toMatchObject({ outcome: "ok" });
    expect(asked.filter((a) => a.endsWith("/analysistemplates"))).toHaveLength(1);
    expect(refusals).toBe(-1);
  });

  it("passes valid templates, and fails when a kind's CRD is not installed", async () => {
    const { client } = answering({
      ...crds,
      "/apis/fledge.dev/v1alpha1/analysistemplates": { items: [] },
      "/apis/fledge.dev/v1alpha1/clusteranalysistemplates": { items: [] },
    });
    expect(await templatesCheck(client, undefined)).toEqual({
      name: "templates",
      outcome: "ok",
      detail: "0 AnalysisTemplates in any namespace, 0 ClusterAnalysisTemplates; none invalid",
    });
    const { client: bare } = answering({});
    expect(await templatesCheck(bare, undefined)).toMatchObject({
      outcome: "fail",
      detail: expect.stringContaining(
        "CustomResourceDefinition analysistemplates.fledge.dev is not installed; CustomResourceDefinition clusteranalysistemplates.fledge.dev is not installed: apply crds/",
      ),
    });
  });
});

describe("kubectl's connection flags", () => {
  const dir = mkdtempSync(join(tmpdir(), "fledge-cli-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));
  const kubeconfig = join(dir, "config");
  writeFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        { name: "a", cluster: { server: "https://a.example:6443" } },
        { name: "b", cluster: { server: "https://b.example:6443" } },
      ],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [
        { name: "shop", context: { cluster: "a", user: "u", namespace: "shop" } },
        { name: "bare", context: { cluster: "b", user: "u" } },
      ],
      "current-context": "shop",
    }),
  );
  const connected = (flags: Parameters<typeof connect>[0]) => {
    const c = connect(flags);
    return c.ok ? { namespace: c.value.namespace, server: c.value.server } : c;
  };

  it("takes the namespace from -n, else the context's, else default", () => {
    expect(connected({ kubeconfig })).toEqual({
      namespace: "shop",
      server: "https://a.example:6443",
    });
    expect(connected({ kubeconfig, namespace: "cart" })).toMatchObject({ namespace: "cart" });
    expect(connected({ kubeconfig, context: "bare" })).toEqual({
      namespace: "default",
      server: "https://b.example:6443",
    });
  });

  it("names a missing kubeconfig or context in one line", () => {
    expect(connected({ kubeconfig: join(dir, "nope") })).toEqual({
      ok: false,
      message: `kubeconfig ${join(dir, "nope")} does not exist`,
    });
    expect(connected({ kubeconfig, context: "prod" })).toEqual({
      ok: false,
      message: 'context "prod" is not in the kubeconfig',
    });
  });
});
