// `npm run demo`: Fledge's first five minutes on a laptop. A local control plane, the controller
// under deploy/'s ServiceAccount, the traffic simulator and a real Prometheus; then
// examples/podinfo, a good revision that is promoted and a bad one that is rolled back, with the
// kubectl-fledge live view as they go. Everything it started is stopped when it ends, fails or
// is interrupted. `npm run demo -- --router gateway-api` routes by an HTTPRoute instead of a
// TrafficSplit, on the Gateway API's own CRDs, with the simulator as the GAMMA mesh.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { parseAllDocuments } from "yaml";
import { follow } from "../src/cli/rollouts.ts";
import { Hub } from "../src/dashboard/hub.ts";
import { startDashboard, urlOf } from "../src/dashboard/server.ts";
import { KubeClient } from "../src/kube/client.ts";
import { createLogger } from "../src/observability/logger.ts";
import { FLEDGE_CRD_DIR, startControlPlane } from "../test/harness/control-plane.ts";
import { ensureGatewayApiCrds } from "../test/harness/gateway-api.ts";
import { guardDir, onTermination, tail } from "../test/harness/process.ts";
import { startPrometheus } from "../test/harness/prometheus.ts";
import { SIMULATOR, startSimulator } from "../test/harness/simulator/simulator.ts";
import { controllerKubeconfig, startController } from "../test/integration/support/controller.ts";

const NAMESPACE = "shop";
const EXAMPLE = join(import.meta.dirname, "../examples/podinfo");
const CLI = join(import.meta.dirname, "../src/cli/main.ts");
/** Per revision; the example's steps take well under a minute on Prometheus analysis. */
const REVISION_TIMEOUT_MS = 150_000;
const began = Date.now();

/** The routers the demo can show, and how each is asked for in the Rollout. */
const ROUTERS = {
  smi: { trafficRouting: { smi: {} }, says: "a TrafficSplit", crds: "Fledge's and SMI's CRDs" },
  "gateway-api": {
    trafficRouting: { gatewayAPI: {} },
    says: "an HTTPRoute",
    crds: "Fledge's and the Gateway API's CRDs",
  },
} as const;
type RouterName = keyof typeof ROUTERS;

function routerOf(argv: string[]): RouterName {
  const { values } = parseArgs({
    args: argv,
    options: { router: { type: "string", default: "smi" } },
  });
  const router = values.router as string;
  if (router in ROUTERS) return router as RouterName;
  throw new Error(`--router ${router}: use one of ${Object.keys(ROUTERS).join(", ")}`);
}

/** The two changes to the Deployment, and what Fledge should make of each. */
const REVISIONS = [
  {
    title: "a good revision: podinfo 6.7.1, answering as well as the last one",
    image: "ghcr.io/stefanprodan/podinfo:6.7.1",
    successRate: "1",
    outcome: "Healthy",
    done: (stable: string) => `promoted: podinfo-primary now serves revision ${stable}`,
  },
  {
    title: "a bad revision: podinfo 6.7.2, failing 20% of requests with a 5xx",
    image: "ghcr.io/stefanprodan/podinfo:6.7.2",
    successRate: "0.8",
    outcome: "Failed",
    done: (stable: string, message: string) =>
      `rolled back: podinfo-primary still serves revision ${stable} (${message})`,
  },
];

const say = (line: string) =>
  console.log(`[${((Date.now() - began) / 1000).toFixed(1).padStart(5)}s] ${line}`);

type RolloutStatus = {
  status?: { phase?: string; message?: string; stableRevision?: string };
};

const COLLECTIONS: Record<string, string> = {
  Deployment: `/apis/apps/v1/namespaces/${NAMESPACE}/deployments`,
  Rollout: `/apis/fledge.dev/v1alpha1/namespaces/${NAMESPACE}/rollouts`,
};

async function must<T>(
  result: Promise<{ ok: true; value: T } | { ok: false; error: { message: string } }>,
  what: string,
): Promise<T> {
  const r = await result;
  if (!r.ok) throw new Error(`${what}: ${r.error.message}`);
  return r.value;
}

/**
 * Creates the example's objects in NAMESPACE, Deployments first, as kubectl apply -f would, the
 * Rollout routed by the router asked for.
 */
async function applyExample(client: KubeClient, router: RouterName): Promise<void> {
  const objects = readdirSync(EXAMPLE)
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => parseAllDocuments(readFileSync(join(EXAMPLE, f), "utf8")))
    .map((doc) => doc.toJS() as { kind: string; metadata: { name: string }; spec: object })
    .sort((a, b) => Number(a.kind === "Rollout") - Number(b.kind === "Rollout"));
  for (const object of objects) {
    const path = COLLECTIONS[object.kind];
    if (!path) throw new Error(`examples/podinfo: no place for a ${object.kind}`);
    const routed =
      object.kind === "Rollout"
        ? { ...object, spec: { ...object.spec, trafficRouting: ROUTERS[router].trafficRouting } }
        : object;
    await must(client.create(path, routed), `create ${object.kind} ${object.metadata.name}`);
  }
}

async function waitFor(
  client: KubeClient,
  what: string,
  done: (r: RolloutStatus) => boolean,
): Promise<RolloutStatus> {
  const deadline = Date.now() + REVISION_TIMEOUT_MS;
  for (;;) {
    const got = await client.get<RolloutStatus>(`${COLLECTIONS.Rollout}/podinfo`);
    if (got.ok && done(got.value)) return got.value;
    if (Date.now() > deadline) {
      const status = got.ok ? JSON.stringify(got.value.status) : got.error.message;
      throw new Error(`timed out waiting for ${what}; the Rollout's status: ${status}`);
    }
    await sleep(250);
  }
}

/** What to undo when the demo ends: `sync` at a sudden exit, `async` at a normal stop or a signal. */
type Cleanup = { sync(): void; async(): Promise<void> };
const cleanups: Cleanup[] = [];
const stopAll = async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup.async().catch(() => {});
};
const unregister = onTermination({
  sync: () => {
    for (const cleanup of cleanups.splice(0).reverse()) cleanup.sync();
  },
  async: stopAll,
});

/** A child process of the demo's: SIGKILLed at a sudden exit, else asked to stop. */
function owned(child: ChildProcess, stop: () => Promise<unknown>): Cleanup {
  const cleanup = {
    sync: () => void child.kill("SIGKILL"),
    async: async () => void (await stop()),
  };
  cleanups.push(cleanup);
  return cleanup;
}

/** kubectl-fledge's live view of the Rollout until it rests; stopped early if still running. */
function liveView(kubeconfig: string): { stop(): Promise<void> } {
  const child = spawn(
    process.execPath,
    [CLI, "--kubeconfig", kubeconfig, "-n", NAMESPACE, "get", "rollout", "podinfo", "--watch"],
    { stdio: ["ignore", "inherit", "inherit"] },
  );
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    await exited;
  };
  const cleanup = owned(child, kill);
  return {
    async stop() {
      // The view exits by itself once the rollout rests; give it a moment to draw the last frame.
      await Promise.race([exited, sleep(3000)]);
      await kill();
      cleanups.splice(cleanups.indexOf(cleanup), 1);
    },
  };
}

/** Makes the change to the Deployment and follows the rollout it starts until it rests. */
async function revision(
  client: KubeClient,
  kubeconfig: string,
  change: (typeof REVISIONS)[number],
): Promise<RolloutStatus> {
  const before = await waitFor(client, "the Rollout to rest", (r) => r.status?.phase === "Healthy");
  const view = liveView(kubeconfig);
  // Let the view show the resting rollout first, so the change is seen arriving.
  await sleep(1000);
  await must(
    client.patch(`${COLLECTIONS.Deployment}/podinfo`, {
      spec: {
        template: {
          metadata: { annotations: { "fledge.dev/sim-success-rate": change.successRate } },
          spec: { containers: [{ name: "app", image: change.image }] },
        },
      },
    }),
    "change the Deployment",
  );
  try {
    return await waitFor(
      client,
      "the rollout to finish",
      (r) =>
        r.status?.phase === "Failed" ||
        (r.status?.phase === "Healthy" &&
          r.status.stableRevision !== before.status?.stableRevision),
    );
  } finally {
    await view.stop();
  }
}

async function main(): Promise<void> {
  const router = routerOf(process.argv.slice(2));
  console.log(
    "Fledge demo: a local control plane, the Fledge controller, a traffic simulator and Prometheus;\n" +
      "then podinfo gets a good revision (promoted step by step) and a bad one (rolled back),\n" +
      `its traffic moved by ${ROUTERS[router].says}.\n`,
  );
  const dir = mkdtempSync(join(tmpdir(), "fledge-demo-"));
  const dirGuard = guardDir(dir);
  cleanups.push({ sync: () => dirGuard.release(), async: async () => dirGuard.release() });
  let controllerLog = "";
  try {
    const controlPlane = await startControlPlane(
      router === "gateway-api" ? { crdDirs: [FLEDGE_CRD_DIR, await ensureGatewayApiCrds()] } : {},
    );
    cleanups.push({ sync: () => {}, async: () => controlPlane.stop() });
    say(`control plane up at ${controlPlane.url}, with ${ROUTERS[router].crds}`);
    const admin = controlPlane.kubeConfig;
    const client = new KubeClient(admin);

    const simulator = await startSimulator({
      kubeConfig: admin,
      tls: controlPlane.servingCertificate,
      rps: 40,
      logger: createLogger("warn", SIMULATOR),
    });
    if (!simulator.ok) throw new Error(simulator.reason);
    cleanups.push({ sync: () => {}, async: () => simulator.simulator.stop() });
    const prometheus = await startPrometheus({ targets: [simulator.simulator.metricsUrl] });
    cleanups.push({ sync: () => {}, async: () => prometheus.close() });
    say(
      `traffic simulator sending 40 requests/s to each routed service; Prometheus at ${prometheus.url}`,
    );

    const controller = startController(
      await controllerKubeconfig(dir, admin),
      dir,
      ["--prometheus-address", prometheus.url],
      "info",
    );
    controllerLog = controller.logFile;
    owned(controller.process, () => controller.kill());
    say(
      `controller running as fledge-system/fledge-controller (deploy/'s RBAC); its log: ${controller.logFile}`,
    );

    // The dashboard as `kubectl fledge dashboard` serves it, in this process: it costs one
    // watch of Rollouts and one of Events, only while a page is open.
    const connection = { client, kubeConfig: admin };
    const dashboard = await startDashboard({
      client,
      server: controlPlane.url,
      hub: new Hub((selection, follower, signal) =>
        follow(connection, selection, follower, signal),
      ),
      address: "127.0.0.1",
      port: 0,
    });
    cleanups.push({
      sync: () => dashboard.closeAllConnections(),
      async: async () => {
        dashboard.closeAllConnections();
        dashboard.close();
      },
    });
    say(`dashboard at ${urlOf(dashboard)}#/${NAMESPACE}/podinfo (open it to watch the rollouts)`);

    await must(
      client.create("/api/v1/namespaces", { metadata: { name: NAMESPACE } }),
      `namespace ${NAMESPACE}`,
    );
    await applyExample(client, router);
    say(`applied examples/podinfo in namespace ${NAMESPACE}; Fledge makes podinfo-primary`);
    const initial = await waitFor(
      client,
      "podinfo to be Healthy",
      (r) => r.status?.phase === "Healthy",
    );
    say(`podinfo is Healthy: podinfo-primary serves revision ${initial.status?.stableRevision}`);

    for (const [i, change] of REVISIONS.entries()) {
      console.log(`\n== ${i + 1}. ${change.title}\n`);
      const after = await revision(client, controlPlane.kubeconfigPath, change);
      if (after.status?.phase !== change.outcome) {
        throw new Error(`wanted ${change.outcome}, got: ${JSON.stringify(after.status)}`);
      }
      say(change.done(after.status?.stableRevision ?? "", after.status?.message ?? ""));
    }
  } catch (error) {
    say(`demo failed: ${(error as Error).message}`);
    if (controllerLog) console.error(`last lines of the controller's log:\n${tail(controllerLog)}`);
    process.exitCode = 1;
  } finally {
    unregister();
    await stopAll();
  }
  say(`done; everything the demo started is stopped`);
}

await main();
