// The tests' tools that Debian packages (prometheus, lua5.4), found on PATH or installed on first
// use by scripts/ensure-debian-package.sh, so a clean machine needs no set-up step of its own.

import { execFile } from "node:child_process";
import { fileURLToPath } from "node:url";
import { log } from "./process.ts";

const script = fileURLToPath(new URL("../../scripts/ensure-debian-package.sh", import.meta.url));
const found = new Map<string, Promise<string>>();

/** The path of `command`, installing Debian's `debianPackage` when it is missing. */
export function ensureDebianCommand(command: string, debianPackage: string): Promise<string> {
  let path = found.get(command);
  if (path === undefined) {
    path = new Promise((resolve, reject) => {
      const started = Date.now();
      execFile("bash", [script, command, debianPackage], (error, stdout, stderr) => {
        if (error) {
          reject(
            new Error(`installing ${debianPackage} failed: ${stderr.trim() || error.message}`),
          );
          return;
        }
        if (stderr.trim()) process.stderr.write(stderr);
        if (Date.now() - started > 1000)
          log(`${command} ready at ${stdout.trim()} in ${Date.now() - started} ms`);
        resolve(stdout.trim());
      });
    });
    found.set(command, path);
  }
  return path;
}
