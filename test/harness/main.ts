// A control plane by hand, for the demo, a debugger or kubectl:
//   node test/harness/main.ts up [--kubeconfig PATH] [--audit-log PATH] [--crd-dir DIR]...
//   node test/harness/main.ts build
import { copyFile, mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { parseArgs } from "node:util";
import { ensureBinaries } from "./binaries.ts";
import { startControlPlane } from "./control-plane.ts";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    kubeconfig: { type: "string", default: "./.tmp/kubeconfig" },
    "audit-log": { type: "string" },
    "crd-dir": { type: "string", multiple: true },
  },
});

switch (positionals[0]) {
  case "build": {
    const binaries = await ensureBinaries();
    for (const path of Object.values(binaries)) console.log(path);
    break;
  }
  case "up": {
    const controlPlane = await startControlPlane({
      auditLog: values["audit-log"] && resolve(values["audit-log"]),
      crdDirs: values["crd-dir"]?.map((dir) => resolve(dir)),
    });
    const kubeconfig = resolve(values.kubeconfig);
    await mkdir(dirname(kubeconfig), { recursive: true });
    await copyFile(controlPlane.kubeconfigPath, kubeconfig);
    console.log(`export KUBECONFIG=${kubeconfig}`);
    // The control plane's signal handlers stop everything and then end the process. A parent
    // that dies without passing a signal on (npm killed outright, a closed terminal's shell)
    // leaves this process to init: that counts as a SIGTERM, so nothing outlives its owner. The
    // same timer keeps the event loop alive until then.
    const parent = process.ppid;
    setInterval(() => {
      if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
    }, 500);
    break;
  }
  default:
    console.error(
      "usage: node test/harness/main.ts up [--kubeconfig PATH] [--audit-log PATH] [--crd-dir DIR]...",
    );
    console.error("       node test/harness/main.ts build");
    process.exit(2);
}
