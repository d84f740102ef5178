// The SMI CRDs as smi-sdk-go publishes them, for tests against the shapes meshes ship rather than
// our own copies: fetched as a Go module, as the control-plane binaries are, and converted to
// apiextensions v1 (crd-v1.ts), which kube-apiserver requires. Cached under the harness's cache
// dir keyed by version and made again when missing.

import { spawn } from "node:child_process";
import { access, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { cacheDir } from "./binaries.ts";
import { crdToV1 } from "./crd-v1.ts";
import { log } from "./process.ts";

export const SMI_SDK_MODULE = "github.com/servicemeshinterface/smi-sdk-go";
export const SMI_SDK_VERSION = "v0.5.0";

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

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/**
 * A directory of smi-sdk-go's CRDs (crds/*.yaml: TrafficSplit, HTTPRouteGroup and the other
 * SMI kinds) as apiextensions v1, for startControlPlane's crdDirs.
 */
export async function ensureSmiSdkCrds(version = SMI_SDK_VERSION): Promise<string> {
  const cache = cacheDir();
  const final = join(cache, `smi-sdk-go-${version}`);
  if (await exists(final)) return final;
  log(`fetching ${SMI_SDK_MODULE}@${version} and converting its CRDs to apiextensions v1`);
  const source = join(await goModuleDir(SMI_SDK_MODULE, version), "crds");
  await mkdir(cache, { recursive: true });
  // Written aside and renamed into place, so a reader never sees half of it.
  const work = await mkdtemp(join(cache, `.smi-sdk-go-${version}.`));
  try {
    for (const file of (await readdir(source)).filter((f) => f.endsWith(".yaml")).sort()) {
      const docs = parseAllDocuments(await readFile(join(source, file), "utf8"))
        .map((d) => d.toJS() as Record<string, unknown> | null)
        .filter((d) => d !== null);
      const converted = docs.map((d) =>
        stringify(crdToV1(d), { lineWidth: 0, aliasDuplicateObjects: false }),
      );
      await writeFile(join(work, file), converted.join("---\n"));
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
