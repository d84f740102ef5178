// CRDs that upstream projects publish in their Go modules (smi-sdk-go, gateway-api), fetched as
// the control-plane binaries are, with `go mod download`, and kept under the harness's cache dir
// keyed by module version: tests run against the shapes meshes ship rather than our own copies.

import { spawn } from "node:child_process";
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { cacheDir } from "./binaries.ts";
import { log } from "./process.ts";

/** Where the Go module cache holds MODULE@VERSION, downloading it first when it is not there. */
export function goModuleDir(module: string, version: string): Promise<string> {
  return new Promise((resolve, reject) => {
    // Outside any go.mod, so that nothing but the module asked for is resolved.
    const child = spawn("go", ["mod", "download", "-json", `${module}@${version}`], {
      cwd: tmpdir(),
      stdio: ["ignore", "pipe", process.stderr],
    });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk;
    });
    child.on("error", reject);
    child.on("exit", (code) => {
      const info = (() => {
        try {
          return JSON.parse(out) as { Dir?: string; Error?: string };
        } catch {
          return {};
        }
      })();
      if (code === 0 && info.Dir) resolve(info.Dir);
      else
        reject(new Error(`go mod download ${module}@${version}: ${info.Error ?? `exit ${code}`}`));
    });
  });
}

export async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

export interface ModuleCrds {
  module: string;
  version: string;
  /** The module's folder of YAML files, e.g. "crds" or "config/crd/standard". */
  folder: string;
  /** The cache entry is CACHE_NAME-VERSION under the harness's cache dir. */
  cacheName: string;
  /** Each document of each file, as it is to be installed; undefined leaves it out. */
  convert: (document: Record<string, unknown>) => Record<string, unknown> | undefined;
  /** What is done, for the log line: "converting its CRDs to apiextensions v1". */
  doing: string;
}

/**
 * A directory of the module's *.yaml files with every document passed through `convert` (a file
 * left with none is not written), for startControlPlane's crdDirs. Made once per version and
 * made again when missing.
 */
export async function ensureModuleCrds(options: ModuleCrds): Promise<string> {
  const { module, version, folder, cacheName, convert } = options;
  const cache = cacheDir();
  const final = join(cache, `${cacheName}-${version}`);
  if (await exists(final)) return final;
  log(`fetching ${module}@${version} and ${options.doing}`);
  const source = join(await goModuleDir(module, version), folder);
  await mkdir(cache, { recursive: true });
  // Written aside and renamed into place, so a reader never sees half of it.
  const work = await mkdtemp(join(cache, `.${cacheName}-${version}.`));
  try {
    for (const file of (await readdir(source)).filter((f) => f.endsWith(".yaml")).sort()) {
      const docs = parseAllDocuments(await readFile(join(source, file), "utf8"))
        .map((d) => d.toJS() as Record<string, unknown> | null)
        .filter((d) => d !== null)
        .map(convert)
        .filter((d) => d !== undefined);
      if (docs.length === 0) continue;
      const written = docs.map((d) => stringify(d, { lineWidth: 0, aliasDuplicateObjects: false }));
      await writeFile(join(work, file), written.join("---\n"));
    }
    await rename(work, final).catch(async (error: NodeJS.ErrnoException) => {
      // Another process got there first with the same files.
      if (error.code !== "ENOTEMPTY" && error.code !== "EEXIST") throw error;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return final;
}
