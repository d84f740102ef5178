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
function runDemo(interrupt?: RegExp, args: string[] = []): Promise<Run> {
  const child = spawn(process.execPath, [DEMO, ...args], { stdio: ["ignore", "pipe", "pipe"] });
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

/** The temp dirs the demo made, from its log lines; every process it starts names one. */
function started(output: string): string[] {
  const dirs = [...output.matchAll(/logs in (\/\S+)|its log: (\/\S+)\/[^/\s]+/g)].map(
    (m) => m[1] ?? m[2] ?? "",
  );
  return [...new Set(dirs)];
}

async function expectNothingLeft(output: string) {
  const dirs = started(output);
  // The control plane's, Prometheus's and the demo's own (the controller's kubeconfig and log).
  expect(dirs.length).toBe(3);
  for (const dir of dirs) {
    await eventually(`${dir} removed`, () => (existsSync(dir) ? undefined : true), 5000);
  }
  // Every process the demo started names one of its dirs in its arguments (its loopback ports are
  // no evidence: other tests on the machine may bind them as soon as they are free).
  const processes = execFileSync("ps", ["-eo", "args"], { encoding: "utf8" }).split("\n");
  expect(processes.filter((args) => dirs.some((dir) => args.includes(dir)))).toEqual([]);
}

describe("npm run demo", () => {
  test.each([
    { says: "a TrafficSplit", args: [] },
    { says: "an HTTPRoute", args: ["--router", "gateway-api"] },
  ])(
    "by $says: promotes a good revision, rolls back a bad one, and exits 0 in under 5 minutes",
    async ({ says, args }) => {
      const begun = Date.now();
      const run = await runDemo(undefined, args);
      expect(run.output).toContain(`its traffic moved by ${says}`);
      expect(run.output).toMatch(/dashboard at http:\/\/127\.0\.0\.1:\d+\/#\/shop\/podinfo/);
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
    },
    320_000,
  );

  test("Ctrl-C mid-rollout stops everything it started", async () => {
    const run = await runDemo(/== 1\. a good revision/);
    expect(run.signal ?? run.code).toBe("SIGINT");
    expect(run.output).not.toContain("promoted:");
    await expectNothingLeft(run.output);
  }, 120_000);
});
