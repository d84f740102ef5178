import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderCrds } from "./render.ts";

const dir = join(import.meta.dirname, "../../../crds");
mkdirSync(dir, { recursive: true });
const files = renderCrds();
for (const stale of readdirSync(dir).filter((f) => f.endsWith(".yaml") && !(f in files))) {
  rmSync(join(dir, stale));
}
for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
console.log(`wrote ${Object.keys(files).length} files to ${dir}`);
