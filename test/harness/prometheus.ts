// A real Prometheus server for the e2e tier and the demo: Debian's package (installed by
// scripts/ensure-debian-package.sh when missing), on a free loopback port, with a temp data dir and a
// 1s scrape of the given targets. stop() and start() take it down and bring it back on the same
// port and data, for tests of an analysis whose Prometheus goes away.

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { stringify } from "yaml";
import { freePorts } from "./control-plane.ts";
import { ensureDebianCommand } from "./debian.ts";
import { Component, guardDir, log, onTermination } from "./process.ts";

export interface PrometheusOptions {
  /** Scrape targets as URLs, e.g. http://127.0.0.1:PORT/metrics. */
  targets: string[];
  scrapeIntervalS?: number;
}

export interface Prometheus {
  /** http://127.0.0.1:PORT, the same across stop() and start(). */
  url: string;
  /** Takes the server down; queries fail until start(). */
  stop(): Promise<void>;
  /** Brings it back on the same port and data dir; resolves once it is ready. */
  start(): Promise<void>;
  /** Stops it for good and removes its data. */
  close(): Promise<void>;
}

function scrapeConfig(targets: string[], intervalS: number): string {
  return stringify({
    global: { scrape_interval: `${intervalS}s`, evaluation_interval: `${intervalS}s` },
    scrape_configs: targets.map((target, i) => {
      const url = new URL(target);
      return {
        job_name: i === 0 ? "simulator" : `target-${i}`,
        scrape_interval: `${intervalS}s`,
        scrape_timeout: `${intervalS}s`,
        metrics_path: url.pathname,
        static_configs: [{ targets: [url.host] }],
      };
    }),
  });
}

async function ready(url: string, component: Component, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    component.assertRunning();
    const ok = await fetch(`${url}/-/ready`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return;
    if (Date.now() > deadline)
      throw new Error(`prometheus not ready at ${url} after ${timeoutMs} ms`);
    await sleep(100);
  }
}

export async function startPrometheus(options: PrometheusOptions): Promise<Prometheus> {
  const path = await ensureDebianCommand("prometheus", "prometheus");
  const dir = mkdtempSync(join(tmpdir(), "fledge-prometheus-"));
  const dirGuard = guardDir(dir);
  const [port] = (await freePorts(1)) as [number];
  const url = `http://127.0.0.1:${port}`;
  writeFileSync(
    join(dir, "prometheus.yml"),
    scrapeConfig(options.targets, options.scrapeIntervalS ?? 1),
  );
  const component = new Component(
    "prometheus",
    path,
    [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--storage.tsdb.retention.time=1h",
      "--log.level=warn",
    ],
    join(dir, "prometheus.log"),
  );
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      unregister();
      await component.stop();
      dirGuard.release();
    })();
    return closing;
  };
  const unregister = onTermination({
    sync() {
      component.killSync();
      dirGuard.release();
    },
    async: close,
  });
  const start = async () => {
    component.start();
    await ready(url, component, 30_000);
  };
  try {
    await start();
  } catch (error) {
    await close();
    throw error;
  }
  log(`prometheus up at ${url}, scraping ${options.targets.join(", ")}; logs in ${dir}`);
  return { url, start, stop: () => component.stop(), close };
}
