// The traffic simulator alone, against any cluster with the SMI CRDs (and, when served, the
// Gateway API's HTTPRoutes):
//   node test/harness/simulator/main.ts --kubeconfig PATH [--namespace NS]
//     [--rps 20] [--match-share 0.3] [--metrics-port 0] [--seed N] [--no-traffic-metrics]
// Runs until SIGINT or SIGTERM; logs JSON lines on stdout.

import { parseArgs } from "node:util";
import { KubeConfig } from "@kubernetes/client-node";
import { createLogger } from "../../../src/observability/logger.ts";
import { SIMULATOR, startSimulator } from "./simulator.ts";

const USAGE =
  "usage: node test/harness/simulator/main.ts --kubeconfig PATH [--namespace NS (default: all)]\n" +
  "         [--rps N] [--match-share 0..1] [--metrics-port PORT] [--seed N] [--no-traffic-metrics]";

function fail(message: string): never {
  console.error(`${message}\n${USAGE}`);
  process.exit(2);
}

function parse() {
  try {
    return parseArgs({
      options: {
        kubeconfig: { type: "string", default: process.env.KUBECONFIG },
        namespace: { type: "string", short: "n" },
        rps: { type: "string", default: "20" },
        "match-share": { type: "string", default: "0.3" },
        "metrics-port": { type: "string", default: "0" },
        seed: { type: "string" },
        "no-traffic-metrics": { type: "boolean" },
      },
    }).values;
  } catch (error) {
    return fail((error as Error).message);
  }
}
const values = parse();

const number = (flag: string, text: string, max = Number.POSITIVE_INFINITY) => {
  const n = Number(text);
  if (!Number.isFinite(n) || n < 0 || n > max) fail(`--${flag} ${text}: not a number in 0..${max}`);
  return n;
};
if (!values.kubeconfig) fail("--kubeconfig (or KUBECONFIG) is required");

const kubeConfig = new KubeConfig();
kubeConfig.loadFromFile(values.kubeconfig);
const logger = createLogger(undefined, SIMULATOR);
const started = await startSimulator({
  kubeConfig,
  namespace: values.namespace,
  rps: number("rps", values.rps),
  matchShare: number("match-share", values["match-share"], 1),
  metricsPort: number("metrics-port", values["metrics-port"], 65535),
  seed: values.seed,
  trafficMetrics: !values["no-traffic-metrics"],
  logger,
});
if (!started.ok) {
  logger.error({ reason: started.reason }, "simulator did not start");
  process.exit(1);
}
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, async () => {
    await started.simulator.stop();
    process.exit(0);
  });
}
