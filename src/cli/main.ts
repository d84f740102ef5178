import { Command, InvalidArgumentError, Option } from "commander";
import { Duration, durationMs } from "../api/common.ts";
import { CHECKS, type CheckName } from "./check.ts";
import { checkCommand, getCommand, lintCommand, listCommand, steerCommand } from "./commands.ts";
import { type ConnectFlags, type Connection, connect } from "./connect.ts";
import { dashboardCommand } from "./dashboard.ts";
import { readSource } from "./files.ts";
import { FORMATS, type Format, processIo } from "./output.ts";
import { simulateCommand } from "./simulate.ts";
import type { Command as SteerCommand } from "./steer.ts";

const io = processIo();

type Global = ConnectFlags & { output?: Format };

/** Runs a command with a connection made from the kubectl-style flags; any failure is one line. */
const run =
  <O, A extends unknown[] = []>(
    body: (c: Connection, flags: Global & O, ...args: A) => Promise<number>,
  ) =>
  async (...args: [...A, unknown, Command]) => {
    const command = args[args.length - 1] as Command;
    const flags = command.optsWithGlobals<Global & O>();
    const connection = connect(flags);
    if (!connection.ok) {
      io.err(`error: ${connection.message}\n`);
      process.exitCode = 1;
      return;
    }
    process.exitCode = await body(connection.value, flags, ...(args.slice(0, -2) as A));
  };

const seconds = (value: string) => {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError("must be a number of seconds");
  return n;
};

const namespacedName = (value: string) => {
  const [namespace, name, ...rest] = value.split("/");
  if (!namespace || !name || rest.length > 0)
    throw new InvalidArgumentError("must be NAMESPACE/NAME");
  return { namespace, name };
};

const program = new Command("kubectl fledge")
  .description(
    "Watch and steer Fledge rollouts (progressive delivery on SMI TrafficSplit or Gateway API HTTPRoute)",
  )
  .option("--kubeconfig <path>", "kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)")
  .option("--context <name>", "kubeconfig context to use")
  .option("-n, --namespace <namespace>", "namespace (default: the context's, else default)")
  .addOption(new Option("-o, --output <format>", "print objects for scripts").choices(FORMATS))
  .showHelpAfterError();

program
  .command("get")
  .description("show one rollout: phase, step, weight, metrics, checks, revisions and Events")
  .argument("<kind>", "rollout")
  .argument("<name>", "the Rollout's name")
  .option("-w, --watch", "redraw as the rollout moves; exit when it rests (0 Healthy, 1 otherwise)")
  .action(
    run<{ watch?: boolean }, [string, string]>(async (c, flags, kind, name) => {
      if (!["rollout", "rollouts", "fro"].includes(kind)) {
        io.err(`error: kubectl fledge gets rollouts only, not "${kind}"\n`);
        return 1;
      }
      return getCommand(c, io, name, {
        watch: flags.watch,
        output: flags.output,
        terminal: { columns: process.stdout.columns ?? 80, rows: process.stdout.rows ?? 24 },
      });
    }),
  );

program
  .command("list")
  .alias("ls")
  .description("one line per Rollout: namespace, name, phase, step, weight, age")
  .option("-A, --all-namespaces", "list Rollouts in every namespace")
  .action(
    run<{ allNamespaces?: boolean }>((c, flags) =>
      listCommand(c, io, {
        allNamespaces: flags.allNamespaces,
        output: flags.output,
      }),
    ),
  );

const STEERING: { name: string; command: SteerCommand; description: string }[] = [
  {
    name: "pause",
    command: "pause",
    description: "hold the rollout at its weight (fledge.dev/pause)",
  },
  { name: "resume", command: "resume", description: "lift a person's pause or a pause step" },
  {
    name: "promote",
    command: "promote",
    description: "skip to promotion; --full skips the gates too",
  },
  { name: "abort", command: "abort", description: "roll the canary back and stop" },
  { name: "retry", command: "retry", description: "start a failed or aborted rollout again" },
];

for (const s of STEERING) {
  const command = program
    .command(s.name)
    .description(s.description)
    .argument("<name>", "the Rollout's name")
    .option("--timeout <seconds>", "how long to wait for the controller to apply it", seconds, 10);
  if (s.command === "promote") command.option("--full", "skip the remaining steps and gates");
  command.action(
    run<{ timeout: number; full?: boolean }, [string]>((c, flags, name) =>
      steerCommand(c, io, flags.full ? "promoteFull" : s.command, name, {
        timeoutMs: flags.timeout * 1000,
        output: flags.output,
      }),
    ),
  );
}

program
  .command("check")
  .description(
    "preflight: CRDs, SMI APIs, the Gateway API, the controller's RBAC, TrafficMetrics and Prometheus",
  )
  .option(
    "--service-account <namespace/name>",
    "the controller's ServiceAccount (default: deploy/base/rbac.yaml's)",
    namespacedName,
  )
  .option("--prometheus-address <url>", "the Prometheus the controller queries")
  .addOption(
    new Option("--skip <item...>", "items this installation does not need").choices(CHECKS),
  )
  .action(
    run<{
      serviceAccount?: { namespace: string; name: string };
      prometheusAddress?: string;
      skip?: CheckName[];
    }>((c, flags) =>
      checkCommand(c, io, {
        // Rollouts and HTTPRoutes are looked at in every namespace unless one is named.
        namespace: flags.namespace,
        serviceAccount: flags.serviceAccount,
        prometheusAddress: flags.prometheusAddress,
        skip: flags.skip ?? [],
        output: flags.output,
      }),
    ),
  );

const duration = (value: string) => {
  if (!Duration.safeParse(value).success || durationMs(value) <= 0)
    throw new InvalidArgumentError('must be a duration such as "15s" or "1m"');
  return durationMs(value);
};

// Offline: no connection is made, so it is not wrapped in run.
program
  .command("lint")
  .description(
    "check Rollouts and AnalysisTemplates offline, with the CRD's schema and rules; - reads stdin",
  )
  .argument("<file...>", "YAML files, each of any number of documents")
  .option(
    "--scrape-interval <duration>",
    "Prometheus' scrape interval: warn of analysis intervals under two",
    duration,
  )
  .action((files: string[], _options: unknown, command: Command) => {
    const flags = command.optsWithGlobals<Global & { scrapeInterval?: number }>();
    process.exitCode = lintCommand(io, files, readSource, {
      output: flags.output,
      scrapeIntervalMs: flags.scrapeInterval,
    });
  });

// No cluster: simulate reads only its files, so it runs without the connecting wrapper.
program
  .command("simulate")
  .description("run a Rollout's plan in virtual time against a scenario, with no cluster")
  .argument(
    "<file>",
    "the Rollout (YAML), with any analysis templates it names as further documents",
  )
  .option(
    "--metrics <scenario>",
    "readings, people's actions and readiness delay (default: all pass)",
  )
  .action(async (file: string, _flags: unknown, command: Command) => {
    const flags = command.optsWithGlobals<{ metrics?: string; output?: Format }>();
    process.exitCode = await simulateCommand(io, file, flags);
  });

const port = (value: string) => {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new InvalidArgumentError("must be a port");
  return n;
};

program
  .command("dashboard")
  .description(
    "serve a live web UI of the rollouts, steered with your kubeconfig's credentials (Ctrl-C stops it)",
  )
  .option("--port <port>", "port to listen on (0 picks a free one)", port, 8765)
  .option(
    "--address <address>",
    "address to listen on; anything but loopback exposes your access",
    "127.0.0.1",
  )
  .action(
    run<{ port: number; address: string }>((c, flags) =>
      dashboardCommand(c, io, { port: flags.port, address: flags.address }),
    ),
  );

await program.parseAsync();
