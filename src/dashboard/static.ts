import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const require = createRequire(import.meta.url);
/** A package's folder, found from its main file: neither htm nor uPlot exports its package.json. */
const packageDir = (name: string, depth: number) =>
  join(dirname(require.resolve(name)), ...Array(depth).fill(".."));

// The page's own files sit in the source tree, which the package ships: run from src/ or from
// dist/, this module is two folders below the package's root.
const page = fileURLToPath(new URL("../../src/dashboard/static/", import.meta.url));
const htm = packageDir("htm", 1);
const uplot = packageDir("uplot", 1);

const JS = "text/javascript; charset=utf-8";

/**
 * Everything the browser loads, by URL. The libraries come from node_modules as their packages
 * ship them (htm's standalone build bundles preact), so the page needs no CDN and no build step.
 */
export const ASSETS: Record<string, { file: string; type: string }> = {
  "/": { file: join(page, "index.html"), type: "text/html; charset=utf-8" },
  "/app.js": { file: join(page, "app.js"), type: JS },
  "/style.css": { file: join(page, "style.css"), type: "text/css; charset=utf-8" },
  "/vendor/preact-htm.js": { file: join(htm, "preact", "standalone.mjs"), type: JS },
  "/vendor/uplot.js": { file: join(uplot, "dist", "uPlot.esm.js"), type: JS },
  "/vendor/uplot.css": { file: join(uplot, "dist", "uPlot.min.css"), type: "text/css" },
};
