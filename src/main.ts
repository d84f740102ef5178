import { hostname } from "node:os";
import { parseArgs } from "node:util";
import { Duration, durationMs } from "./api/common.ts";
import { startManager } from "./controller/manager.ts";
import { loadApiAccess } from "./kube/kubeconfig.ts";
import { createLogger } from "./observability/logger.ts";

const HELP = `fledge-controller: progressive delivery for SMI service meshes

  --kubeconfig PATH      kubeconfig file (default: $KUBECONFIG, then in-cluster)
  --namespace NS         watch one namespace only (default: all)
  --workers N            concurrent reconciles (default 64; each mostly waits on the apiserver)
  --metrics-port PORT    /healthz, /readyz and /metrics (default 8080)
  --lease-namespace NS   elect a leader on a Lease in NS, for running more than one replica
                         (default: none; renewing the Lease costs 30 requests a minute)
  --shards K             split the Rollouts into K shards, each owned through a Lease in
                         --lease-namespace, so that every replica reconciles a fair share
                         (default: $FLEDGE_SHARDS, else none: one replica leads)
  --log-level LEVEL      pino level (default: $LOG_LEVEL or info)
  --prometheus-address URL
                         Prometheus for metrics whose Rollout names no address
  --prometheus-scrape-interval DURATION
                         Prometheus's scrape interval (default: read from its configuration)
  --history-limit N      moves and checks kept in each Rollout's status.history, what the
                         dashboard's timeline draws (default 50)
`;

const { values } = parseArgs({
  options: {
    kubeconfig: { type: "string" },
    namespace: { type: "string" },
    workers: { type: "string", default: "64" },
    "metrics-port": { type: "string", default: "8080" },
    "lease-namespace": { type: "string" },
    shards: { type: "string", default: process.env.FLEDGE_SHARDS },
    "log-level": { type: "string" },
    "prometheus-address": { type: "string" },
    "prometheus-scrape-interval": { type: "string" },
    "history-limit": { type: "string", default: "50" },
    help: { type: "boolean" },
  },
});
if (values.help) {
  process.stdout.write(HELP);
  process.exit(0);
}

// Only tests set it (test/integration/crash-points.test.ts): the k-th write is the last, so a
// crash can be placed at each write in turn. Its logs are unbuffered so the last line survives.
const crashAfter = Number(process.env.FLEDGE_CRASH_AFTER_WRITES);
const crashAfterWrites = Number.isInteger(crashAfter) && crashAfter >= 1 ? crashAfter : undefined;
const logger = createLogger(values["log-level"], undefined, crashAfterWrites !== undefined);
const scrapeInterval = values["prometheus-scrape-interval"];
if (scrapeInterval !== undefined && !Duration.safeParse(scrapeInterval).success) {
  process.stderr.write(`--prometheus-scrape-interval: "${scrapeInterval}" is not a duration\n`);
  process.exit(2);
}
const historyLimit = Number(values["history-limit"]);
if (!Number.isInteger(historyLimit) || historyLimit < 1) {
  process.stderr.write(
    `--history-limit: "${values["history-limit"]}" is not a whole number above 0\n`,
  );
  process.exit(2);
}
const shards = values.shards === undefined ? undefined : Number(values.shards);
if (shards !== undefined && !(Number.isInteger(shards) && shards >= 1)) {
  process.stderr.write(`--shards: "${values.shards}" is not a whole number above 0\n`);
  process.exit(2);
}
const leaseNamespace = values["lease-namespace"];
if (shards !== undefined && (leaseNamespace === undefined || leaseNamespace === "none")) {
  process.stderr.write("--shards needs --lease-namespace: the shards are owned through Leases\n");
  process.exit(2);
}
const kubeConfig = await loadApiAccess(values.kubeconfig);

const manager = await startManager({
  kubeConfig,
  namespace: values.namespace,
  workers: Number(values.workers),
  metricsPort: Number(values["metrics-port"]),
  logger,
  identity: process.env.POD_NAME ?? `${hostname()}-${process.pid}`,
  leaseNamespace: leaseNamespace === "none" ? undefined : leaseNamespace,
  shards,
  prometheusAddress: values["prometheus-address"],
  prometheusScrapeIntervalMs: scrapeInterval === undefined ? undefined : durationMs(scrapeInterval),
  onLostLeadership: () => process.exit(1),
  crashAfterWrites,
  historyLimit,
});
logger.info(
  { port: manager.port, namespace: values.namespace ?? "(all)" },
  "fledge controller started",
);

let stopping = false;
for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: finishing in-flight reconciles, releasing the lease");
    manager.stop().then(
      () => process.exit(0),
      (e) => {
        logger.error({ err: e }, "unclean shutdown");
        process.exit(1);
      },
    );
  });
}
