#!/usr/bin/env node
// The plugin's entry point. It imports nothing of its own before checking the Node version:
// the Kubernetes client's HTTP stack needs Node 22 or later and, imported on an older one, dies
// with a stack trace even for --help. An older Node gets one line saying what to do instead.

const MINIMUM = 22;
const major = Number(process.versions.node.split(".")[0]);

if (major < MINIMUM) {
  process.stderr.write(
    `error: kubectl fledge needs Node ${MINIMUM} or later; this is Node ${process.versions.node} ` +
      `(${process.execPath}). Install a newer Node (for example \`npm install -g node@24\`) ` +
      "or put one first on PATH.\n",
  );
  process.exit(1);
}

await import("./main.ts");
