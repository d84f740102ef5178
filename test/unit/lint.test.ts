import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { lintCommand } from "../../src/cli/commands.ts";
import type { ReadSource } from "../../src/cli/files.ts";
import { type Finding, findingLine, lintText } from "../../src/cli/lint.ts";
import type { Io } from "../../src/cli/output.ts";
import { PLAIN } from "../../src/cli/render.ts";

const rollout = (spec: Record<string, unknown>, name = "podinfo") =>
  stringify({
    apiVersion: "fledge.dev/v1alpha1",
    kind: "Rollout",
    metadata: { name, namespace: "shop" },
    spec: {
      targetRef: { name: "podinfo" },
      service: { port: 9898 },
      steps: [{ setWeight: 10 }, { pause: {} }],
      ...spec,
    },
  });

const lint = (text: string, scrapeIntervalMs?: number) =>
  lintText(text, "r.yaml", { scrapeIntervalMs }).findings.map(({ severity, path, message }) => ({
    severity,
    path,
    message,
  }));

describe("lint's warnings: what the schema accepts but a person most likely did not mean", () => {
  it("a clean Rollout has no findings", () => {
    expect(lint(rollout({}))).toEqual([]);
  });

  it("a weight that goes down, at the step that lowers it", () => {
    const steps = [{ setWeight: 50 }, { pause: {} }, { setWeight: 20 }, { setWeight: 60 }];
    expect(lint(rollout({ steps }))).toEqual([
      {
        severity: "warning",
        path: "spec.steps[2].setWeight",
        message: expect.stringContaining("from 50 at step 0 to 20"),
      },
    ]);
  });

  it("a plan with no pause and no analysis; metrics, a rollout webhook or a template hold it", () => {
    const steps = [{ setWeight: 10 }, { setWeight: 50 }];
    expect(lint(rollout({ steps }))).toEqual([
      { severity: "warning", path: "spec.steps", message: expect.stringContaining("no pause") },
    ]);
    const metrics = [{ name: "request-success-rate", thresholdRange: { min: 99 } }];
    expect(lint(rollout({ steps, analysis: { metrics } }))).toEqual([]);
    const webhooks = [{ name: "w", url: "http://x/" }];
    expect(lint(rollout({ steps, analysis: { webhooks } }))).toEqual([]);
    expect(lint(rollout({ steps, analysis: { templates: [{ name: "t" }] } }))).toEqual([]);
    expect(lint(rollout({ steps: [{ setWeight: 10 }, { analysis: {} }] }))).toEqual([]);
  });

  it("an interval under two scrape intervals, only when --scrape-interval is given", () => {
    const text = rollout({ analysis: { interval: "20s" } });
    expect(lint(text)).toEqual([]);
    expect(lint(text, 10_000)).toEqual([]);
    expect(lint(text, 15_000)).toEqual([
      {
        severity: "warning",
        path: "spec.analysis.interval",
        message: expect.stringContaining("shorter than two scrape intervals"),
      },
    ]);
  });

  it("matches or a mirror on a pinned HTTPRoute v1beta1, whose schema may lack them", () => {
    const gatewayAPI = {
      apiVersion: "gateway.networking.k8s.io/v1beta1",
      matches: [{ name: "beta", headers: { "x-beta": "1" } }],
    };
    const steps = [{ setMirror: 20 }, { pause: {} }, { setWeight: 10 }];
    expect(lint(rollout({ steps, trafficRouting: { gatewayAPI } })).map((f) => f.path)).toEqual([
      "spec.trafficRouting.gatewayAPI.matches",
      "spec.steps",
    ]);
    const auto = { ...gatewayAPI, apiVersion: "auto" };
    expect(lint(rollout({ steps, trafficRouting: { gatewayAPI: auto } }))).toEqual([]);
  });

  it("matches on a pinned SMI version without them are the CRD's error, not a warning", () => {
    const smi = { apiVersion: "split.smi-spec.io/v1alpha2", matches: [{ name: "beta" }] };
    expect(lint(rollout({ trafficRouting: { smi } }))).toEqual([
      {
        severity: "error",
        path: "spec.trafficRouting.smi",
        message: "matches need TrafficSplit v1alpha3 or v1alpha4",
      },
    ]);
  });
});

describe("lint's errors: the schema the controller parses with, at the apiserver's field paths", () => {
  it("each refusal at its field, CEL twins included", () => {
    const steps = [{ setWeight: 101 }, { setWeight: 10, pause: {} }];
    expect(lint(rollout({ steps })).map((f) => `${f.severity} ${f.path}`)).toEqual([
      "error spec.steps[0].setWeight",
      "error spec.steps[1]",
    ]);
  });

  it("an AnalysisTemplate is judged by its own schema; a wrong apiVersion is an error", () => {
    const template = stringify({
      apiVersion: "fledge.dev/v1",
      kind: "AnalysisTemplate",
      metadata: { name: "t" },
      spec: { metrics: [{ name: "errors", thresholdRange: { max: 1 } }] },
    });
    expect(lint(template).map((f) => f.path)).toEqual(["apiVersion", "spec.metrics[0]"]);
  });

  it("a YAML syntax error is an error at its line (an unclosed sequence: where the text ends)", () => {
    const result = lintText("a: 1\nb: [\n", "r.yaml");
    expect(result.findings).toEqual([
      expect.objectContaining({ severity: "error", path: "(yaml)", line: 3, document: 0 }),
    ]);
  });
});

describe("streams of several documents", () => {
  const stream = [
    rollout({}, "good"),
    stringify({ apiVersion: "apps/v1", kind: "Deployment", metadata: { name: "podinfo" } }),
    rollout({ steps: [{ setWeight: 101 }] }, "bad"),
    "",
  ].join("---\n");

  it("each finding names its document, its first line and its object; other kinds are skipped", () => {
    const { findings, skipped } = lintText(stream, "r.yaml");
    expect(findings).toHaveLength(1);
    const [bad] = findings as [Finding];
    expect(bad).toMatchObject({ document: 2, object: "Rollout shop/bad", line: 20 });
    expect(stream.split("\n")[bad.line - 1]).toBe("apiVersion: fledge.dev/v1alpha1");
    expect(findingLine(bad)).toMatch(
      /^r\.yaml:20 \(Rollout shop\/bad\) spec\.steps\[0\]\.setWeight: error: /,
    );
    expect(skipped).toEqual([{ file: "r.yaml", line: 15, document: 1, kind: "Deployment" }]);
    expect(stream.split("\n")[14]).toBe("apiVersion: apps/v1");
  });
});

describe("kubectl fledge lint", () => {
  const run = (files: string[], sources: Record<string, string>, output?: "json") => {
    const out: string[] = [];
    const err: string[] = [];
    const io: Io = { out: (t) => out.push(t), err: (t) => err.push(t), tty: false, paint: PLAIN };
    const read: ReadSource = (file) =>
      file in sources
        ? { ok: true, text: sources[file] as string }
        : { ok: false, error: `${file}: no such file` };
    const code = lintCommand(io, files, read, { output });
    return { code, out: out.join(""), err: err.join("") };
  };
  const good = rollout({});
  const warned = rollout({ steps: [{ setWeight: 10 }] });
  const bad = rollout({ steps: [{ setWeight: 101 }] });

  it("exits 0 when clean or only warned, 1 on an error or a file it cannot read", () => {
    expect(run(["a"], { a: good })).toEqual({ code: 0, out: "", err: "" });
    const onlyWarned = run(["a"], { a: warned });
    expect(onlyWarned.code).toBe(0);
    expect(onlyWarned.out).toContain(": warning: ");
    const both = run(["a", "b"], { a: good, b: bad });
    expect(both.code).toBe(1);
    expect(both.out).toMatch(/^b:1 \(Rollout shop\/podinfo\) spec\.steps\[0\]\.setWeight: error: /);
    expect(run(["missing"], {})).toMatchObject({ code: 1, err: "error: missing: no such file\n" });
  });

  it("reads - as stdin, named (stdin) in findings", () => {
    expect(run(["-"], { "-": bad }).out).toMatch(/^\(stdin\):1 \(Rollout shop\/podinfo\)/);
  });

  it("-o json prints the findings array, skipped documents on stderr", () => {
    const deployment = stringify({ apiVersion: "apps/v1", kind: "Deployment" });
    const { code, out, err } = run(["a"], { a: `${bad}---\n${deployment}` }, "json");
    expect(code).toBe(1);
    expect(JSON.parse(out)).toEqual([
      {
        file: "a",
        line: 1,
        document: 0,
        object: "Rollout shop/podinfo",
        severity: "error",
        path: "spec.steps[0].setWeight",
        message: expect.any(String),
      },
    ]);
    expect(err).toMatch(/^a:\d+: note: skipped a Deployment/);
  });
});
