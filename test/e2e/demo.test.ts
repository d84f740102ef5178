// `npm run demo` as a newcomer runs it: a promotion and a rollback, exit 0, and nothing left
// behind, whether it runs to the end or is interrupted.

import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "vitest";
import { eventually } from "../integration/support/cluster.ts";

const DEMO = join(import.meta.dirname, "../../scripts/demo.ts");

type Run = { output: string; code: number | null; signal: NodeJS.Signals | null };

/** Runs the demo; `interrupt` sends SIGINT once the output has a line matching it. */
function runDemo(interrupt?: RegExp): Promise<Run> {
  const child = spawn(process.execPath, [DEMO], { stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const read = (chunk: Buffer) => {
    output += chunk.toString();
    if (interrupt?.test(output) && child.exitCode === null) {
      interrupt = undefined;
      child.kill("SIGINT");
    }
  };
  child.stdout.on("data", read);
  child.stderr.on("data", read);
  return new Promise((resolve) =>
    child.on("exit", (code, signal) => resolve({ output, code, signal })),
  );
}

/** What the demo started, from its log lines: temp dirs and loopback URLs. */
function started(output: string) {
  const all = (pattern: RegExp) => [
    ...new Set([...output.matchAll(pattern)].map((m) => m.slice(1).find(Boolean) ?? "")),
  ];
  return {
    dirs: all(/logs in (\/\S+)|its log: (\/\S+)\/[^/\s]+/g),
    urls: all(/up at (https?:\/\/127\.0\.0\.1:\d+)/g),
  };
}

async function answers(url: string): Promise<boolean> {
  // The control plane's certificate is its own; any answer at all means something still listens.
  return fetch(url, { signal: AbortSignal.timeout(2000) }).then(
    () => true,
    (error: Error & { cause?: { code?: string } }) => error.cause?.code !== "ECONNREFUSED",
  );
}

async function expectNothingLeft(output: string) {
  const { dirs, urls } = started(output);
  // The control plane's, Prometheus's and the demo's own (the controller's kubeconfig and log).
  expect(dirs.length).toBe(3);
  expect(urls.length).toBe(2);
  for (const dir of dirs) {
    await eventually(`${dir} removed`, () => (existsSync(dir) ? undefined : true), 5000);
  }
  for (const url of urls) expect(await answers(url), `${url} still answers`).toBe(false);
  // Every process the demo started names one of its dirs in its arguments.
  const processes = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n");
  expect(processes.filter((args) => dirs.some((dir) => args.includes(dir)))).toEqual([]);
}

describe("npm run demo", () => {
  test("promotes a good revision, rolls back a bad one, and exits 0 in under 5 minutes", async () => {
    const begun = Date.now();
    const run = await runDemo();
    const seconds = (Date.now() - begun) / 1000;
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/promoted: podinfo-primary now serves revision \w+/);
    expect(run.output).toMatch(
      /rolled back: podinfo-primary still serves revision \w+ \(.*request-success-rate/,
    );
    // The live view was drawn: kubectl-fledge's frames name the rollout.
    expect(run.output).toContain("Name:       shop/podinfo");
    expect(seconds).toBeLessThan(300);
    await expectNothingLeft(run.output);
  }, 320_000);

  test("Ctrl-C mid-rollout stops everything it started", async () => {
    const run = await runDemo(/== 1\. a good revision/);
    expect(run.signal ?? run.code).toBe("SIGINT");
    expect(run.output).not.toContain("promoted:");
    await expectNothingLeft(run.output);
  }, 120_000);
});
