import { type ChildProcess, spawn } from "node:child_process";
import { createWriteStream, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KubeConfig } from "@kubernetes/client-node";
import { KubeClient } from "../../../src/kube/client.ts";
import { kubeconfigYaml, serviceAccountToken } from "../../harness/control-plane.ts";
import { adminKubeConfig, applyFile, eventually, repoRoot } from "./cluster.ts";

export type RunningController = {
  process: ChildProcess;
  logFile: string;
  /** How it ended: an exit code, or the signal that killed it. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Kills it with a signal and waits for it to exit. */
  kill(signal?: NodeJS.Signals): Promise<number | null>;
  logs(): string;
  /** The port of /metrics, from the start-up log line. */
  metricsPort(): Promise<number>;
};

/**
 * Installs deploy/'s namespace, RBAC and FlowSchema and writes a kubeconfig that acts as its ServiceAccount,
 * or as another one in fledge-system the test has bound.
 */
export async function controllerKubeconfig(
  dir: string,
  admin: KubeConfig = adminKubeConfig(),
  serviceAccount = "fledge-controller",
): Promise<string> {
  const client = await KubeClient.fromKubeConfig(admin);
  await applyFile(client, "deploy/base/namespace.yaml");
  await applyFile(client, "deploy/base/rbac.yaml");
  await applyFile(client, "deploy/base/flowcontrol.yaml");
  const cluster = admin.getCurrentCluster();
  if (!cluster?.caData) throw new Error("admin kubeconfig has no CA data");
  const token = await serviceAccountToken(admin, "fledge-system", serviceAccount);
  const path = join(dir, `${serviceAccount}.kubeconfig`);
  writeFileSync(
    path,
    kubeconfigYaml(
      cluster.server,
      Buffer.from(cluster.caData, "base64").toString(),
      serviceAccount,
      token,
    ),
  );
  return path;
}

let started = 0;

/**
 * Runs src/main.ts as its own process, the way it runs in a cluster, logging to a file. The
 * benchmark passes the built dist/main.js and the image's Node options instead; `env` adds to
 * the test's environment (the crash switch).
 */
export function startController(
  kubeconfig: string,
  dir: string,
  args: string[] = [],
  logLevel = "debug",
  entry = "src/main.ts",
  nodeOptions: string[] = [],
  env: Record<string, string> = {},
): RunningController {
  const logFile = join(dir, `controller-${Date.now()}-${++started}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(
    process.execPath,
    [
      ...nodeOptions,
      join(repoRoot, entry),
      "--kubeconfig",
      kubeconfig,
      "--metrics-port",
      "0",
      "--lease-namespace",
      "fledge-system",
      ...(args.some((a) => a.startsWith("--workers")) ? [] : ["--workers", "4"]),
      ...args,
    ],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, LOG_LEVEL: logLevel, ...env },
    },
  );
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.on("exit", (code, signal) => resolve({ code, signal })),
  );
  return {
    process: child,
    logFile,
    exited,
    kill: async (signal = "SIGTERM") => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      return (await exited).code;
    },
    logs: () => readFileSync(logFile, "utf8"),
    metricsPort: () =>
      eventually("the controller's metrics port", () => {
        const m = /"port":(\d+),[^\n]*"msg":"fledge controller started"/.exec(
          readFileSync(logFile, "utf8"),
        );
        return m ? Number(m[1]) : undefined;
      }),
  };
}

export function tempDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), "fledge-it-"));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}
