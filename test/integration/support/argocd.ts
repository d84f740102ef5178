import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { beforeAll } from "vitest";
import { ensureDebianCommand } from "../../harness/debian.ts";
import { repoRoot } from "./cluster.ts";

const run = promisify(execFile);

/** A value as a Lua literal, so the health check reads the object Argo CD would hand it. */
function luaLiteral(v: unknown): string {
  if (v === null || v === undefined) return "nil";
  if (typeof v === "string") return `"${v.replace(/[\\"]/g, "\\$&").replace(/\n/g, "\\n")}"`;
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `{${v.map(luaLiteral).join(", ")}}`;
  return `{${Object.entries(v as Record<string, unknown>)
    .map(([k, x]) => `[${luaLiteral(k)}] = ${luaLiteral(x)}`)
    .join(", ")}}`;
}

/**
 * deploy/argocd-health.lua run on a live Rollout, as Argo CD runs it: `obj` in, {status, message}
 * out. Installs Lua 5.4 before the file's tests when it is missing.
 */
export function argoHealth() {
  let lua = "";
  beforeAll(async () => {
    lua = await ensureDebianCommand("lua5.4", "lua5.4");
  }, 120_000);
  return async (rollout: unknown): Promise<{ status: string; message: string }> => {
    const script = `obj = ${luaLiteral(rollout)}
local hs = dofile(${luaLiteral(join(repoRoot, "deploy/argocd-health.lua"))})
io.write(hs.status, "\\n", hs.message)`;
    const { stdout } = await run(lua, ["-e", script]);
    const [status = "", message = ""] = stdout.split("\n");
    return { status, message };
  };
}
