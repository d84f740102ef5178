import { execFile } from "node:child_process";
import { join } from "node:path";
import { inject } from "vitest";
import { repoRoot } from "./cluster.ts";

export const CLI_MAIN = join(repoRoot, "src/cli/main.ts");

export type CliRun = { code: number | null; stdout: string; stderr: string };

/** Runs kubectl-fledge as a person would: its own process, the tier's admin kubeconfig. */
export function cli(args: string[], env: NodeJS.ProcessEnv = { ...process.env }): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI_MAIN, "--kubeconfig", inject("kubeconfig"), ...args],
      { env, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, stdout, stderr }),
    );
  });
}
