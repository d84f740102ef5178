// The dashboard in a real headless Chromium (Debian's, driven by playwright-core, which downloads
// no browser) against the real control plane and controller: the list, a rollout's weight and
// timeline moving through its steps, the pause button pausing it. Screenshots of both pages are
// kept in test-artefacts/dashboard/.

import { type ChildProcess, execFile, spawn } from "node:child_process";
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { type Browser, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { ensureBinaries } from "../harness/binaries.ts";
import { ensureDebianCommand } from "../harness/debian.ts";
import { CLI_MAIN } from "./support/cli.ts";
import { eventually, repoRoot } from "./support/cluster.ts";
import { Podinfo, withController } from "./support/rollouts.ts";

const world = withController();
const artefacts = join(repoRoot, "test-artefacts", "dashboard");

let browser: Browser;
let dashboard: ChildProcess;
let url: string;

/** `kubectl fledge dashboard` as a person runs it, with the tier's admin kubeconfig; its URL from what it prints. */
function startDashboard(): Promise<string> {
  dashboard = spawn(process.execPath, [
    CLI_MAIN,
    "--kubeconfig",
    inject("kubeconfig"),
    "dashboard",
    "--port",
    "0",
  ]);
  return new Promise((resolve, reject) => {
    let out = "";
    dashboard.stdout?.on("data", (chunk: Buffer) => {
      out += chunk.toString();
      const found = out.match(/at (http:\/\/\S+?)#/);
      if (found?.[1]) resolve(found[1]);
    });
    dashboard.stderr?.on("data", (chunk: Buffer) => process.stderr.write(chunk));
    dashboard.on("exit", (code) => reject(new Error(`dashboard exited ${code}: ${out}`)));
  });
}

beforeAll(async () => {
  mkdirSync(artefacts, { recursive: true });
  const executablePath = await ensureDebianCommand("chromium", "chromium");
  browser = await chromium.launch({ executablePath, args: ["--no-sandbox"] });
  url = await startDashboard();
}, 300_000);

afterAll(async () => {
  await browser?.close();
  dashboard?.kill();
});

const attribute = (page: Page, selector: string, name: string) =>
  page.locator(selector).first().getAttribute(name, { timeout: 1_000 });

async function until(what: string, probe: () => Promise<boolean>, timeoutMs = 60_000) {
  await eventually(what, async () => ((await probe()) ? true : undefined), timeoutMs);
}

describe("kubectl fledge dashboard in Chromium", () => {
  test("the list and a rollout's page follow the rollout live, and pause pauses it", async () => {
    const { p } = await Podinfo.healthy(world.client, "dash-ui", [
      { setWeight: 20 },
      { pause: { duration: "3s" } },
      { setWeight: 50 },
      { pause: { duration: "10m" } },
    ]);
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(e.message));

    await page.goto(`${url}#/${p.ns}`);
    await page.locator('tr[data-rollout="podinfo"]').getByText("Healthy").waitFor();
    await page.screenshot({ path: join(artefacts, "list.png"), fullPage: true });

    await page.goto(`${url}#/${p.ns}/podinfo`);
    await page.locator('[data-phase="Healthy"]').waitFor();
    const points = async () =>
      Number(await attribute(page, '[data-chart="weight"]', "data-points"));

    // No reload from here on: everything the page shows next is pushed to it.
    await p.newRevision("v2");
    await until(
      "the page to show weight 20",
      async () => (await attribute(page, "[data-weight]", "data-weight")) === "20",
    );
    const atTwenty = await points();
    await until(
      "the page to show weight 50",
      async () => (await attribute(page, "[data-weight]", "data-weight")) === "50",
    );
    await until("the timeline to draw the moves", async () => (await points()) > atTwenty);

    await page.locator('button[data-command="pause"]').click();
    await page.getByText("set fledge.dev/pause=true").waitFor();
    const paused = await eventually("the rollout paused by a person", async () => {
      const r = await p.rollout();
      return r.status?.pauseReasons?.some((x) => x.reason === "Person") ? r : undefined;
    });
    expect(paused.metadata.annotations?.["fledge.dev/pause"]).toBe("true");
    await page.getByText("paused by the fledge.dev/pause annotation").first().waitFor();
    expect(await attribute(page, "[data-weight]", "data-weight")).toBe("50");
    await page.screenshot({ path: join(artefacts, "rollout.png"), fullPage: true });

    // A reload draws the same timeline: it comes from status, not from the page's memory.
    const before = await points();
    await page.reload();
    await page.getByText("paused by the fledge.dev/pause annotation").first().waitFor();
    expect(await points()).toBe(before);
    expect(errors).toEqual([]);
  });

  test("ten tabs on one namespace cost the apiserver the same two watches as one", async () => {
    const { p } = await Podinfo.healthy(world.client, "dash-tabs", [{ setWeight: 20 }]);
    const kubectl = (await ensureBinaries()).kubectl;
    // The apiserver's own count of the watches open now, on Rollouts and Events in namespaces.
    const watches = () =>
      new Promise<number>((resolve, reject) =>
        execFile(
          kubectl,
          ["--kubeconfig", inject("kubeconfig"), "get", "--raw", "/metrics"],
          { maxBuffer: 64 << 20 },
          (error, stdout) => {
            if (error) return reject(error);
            let n = 0;
            for (const m of stdout.matchAll(/^apiserver_longrunning_requests\{([^}]*)\} (\d+)/gm)) {
              const labels = m[1] ?? "";
              if (
                labels.includes('verb="WATCH"') &&
                labels.includes('scope="namespace"') &&
                /resource="(rollouts|events)"/.test(labels)
              )
                n += Number(m[2]);
            }
            resolve(n);
          },
        ),
      );
    const before = await watches();
    const tabs = await Promise.all(
      Array.from({ length: 10 }, () => browser.newPage({ viewport: { width: 1200, height: 900 } })),
    );
    await Promise.all(
      tabs.map(async (tab, i) => {
        await tab.goto(i % 2 ? `${url}#/${p.ns}/podinfo` : `${url}#/${p.ns}`);
        await tab.locator('[data-phase="Healthy"], tr[data-rollout="podinfo"]').first().waitFor();
      }),
    );
    const open = await watches();
    console.log(`ten tabs: ${open - before} watches opened on the apiserver (${before} before)`);
    expect(open - before).toBe(2);
    await Promise.all(tabs.map((tab) => tab.close()));
    // The last page to leave closes them.
    await until("the dashboard's watches to close", async () => (await watches()) === before);
  });
});
