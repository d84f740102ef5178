import { type CheckName, readDeployRbac, runChecks } from "./check.ts";
import { type Connection, explain } from "./connect.ts";
import type { ReadSource } from "./files.ts";
import { exitCode, type Finding, findingLine, lintText, skippedLine } from "./lint.ts";
import { type Format, formatted, type Io } from "./output.ts";
import {
  type CliEvent,
  type CliRollout,
  renderChecks,
  renderList,
  renderRollout,
  renderSummary,
} from "./render.ts";
import {
  byTime,
  eventsOf,
  follow,
  getRollout,
  listRollouts,
  rolloutEvents,
  rolloutOf,
  steerRollout,
} from "./rollouts.ts";
import type { Command } from "./steer.ts";
import { redraw, type Terminal, untilSettled } from "./watch.ts";

const fail = (io: Io, message: string) => {
  io.err(`error: ${message}\n`);
  return 1;
};

/** The Events of a rollout's final reconcile are written just after its status; wait that long for them. */
const LAST_EVENTS_MS = 1_000;

const sameEvent = (a: CliEvent, b: CliEvent) =>
  a.metadata?.name !== undefined && a.metadata.name === b.metadata?.name;

export async function getCommand(
  c: Connection,
  io: Io,
  name: string,
  options: { watch?: boolean; output?: Format; terminal?: Terminal },
): Promise<number> {
  const got = await getRollout(c.client, c.namespace, name);
  if (!got.ok)
    return fail(
      io,
      explain(got.error, `rollout "${name}" in namespace "${c.namespace}"`, c.server),
    );
  if (options.output && !options.watch) {
    io.out(formatted(got.value, options.output));
    return 0;
  }
  const listed = await rolloutEvents(c.client, c.namespace, name);
  // Events are context: a person allowed to read Rollouts but not Events still sees the rollout.
  let events = listed.ok ? listed.value : [];
  let rollout: CliRollout = got.value;
  let shown: string | undefined;
  const show = () => {
    if (options.output) {
      const separator = shown !== undefined && options.output === "yaml" ? "---\n" : "";
      shown = "";
      return io.out(separator + formatted(rollout, options.output));
    }
    const frame = renderRollout(rollout, events, io.paint, Date.now());
    if (frame === shown) return;
    io.out(redraw(shown, frame, io.tty ? options.terminal : undefined));
    shown = frame;
  };
  show();
  if (!options.watch) return 0;

  const settled = untilSettled(rollout);
  let deleted = false;
  const stop = new AbortController();
  const finish = () => setTimeout(() => stop.abort(), LAST_EVENTS_MS);
  const onRollout = (type: string, r: CliRollout): boolean => {
    if (type === "DELETED") {
      deleted = true;
      stop.abort();
      return false;
    }
    if (r.metadata.resourceVersion !== rollout.metadata.resourceVersion) {
      rollout = r;
      show();
    }
    if (!settled(r)) return true;
    finish();
    return false;
  };
  const [watched] = await Promise.all([
    follow<CliRollout>(
      c,
      rolloutOf(c.namespace, name),
      {
        onList: ([r]) => (r ? onRollout("MODIFIED", r) : onRollout("DELETED", rollout)),
        onChange: (type, r) => onRollout(type, r),
      },
      stop.signal,
    ),
    // Events are followed for the view alone (-o prints the Rollout only), and losing them is no
    // reason to stop following the rollout.
    options.output
      ? Promise.resolve({ kind: "stopped" } as const)
      : follow<CliEvent>(
          c,
          eventsOf(c.namespace, name),
          {
            onList: (items) => {
              events = byTime(items);
              show();
              return true;
            },
            onChange: (type, e) => {
              const others = events.filter((x) => !sameEvent(x, e));
              events = type === "DELETED" ? others : byTime([...others, e]);
              show();
              return true;
            },
          },
          stop.signal,
        ),
  ]);
  if (deleted) return fail(io, `rollout "${name}" was deleted`);
  if (watched.kind === "failed") return fail(io, `watch failed: ${watched.message}`);
  // Like `kubectl rollout status`: a script can tell a promotion from a rollback.
  return rollout.status?.phase === "Healthy" ? 0 : 1;
}

export async function listCommand(
  c: Connection,
  io: Io,
  options: { allNamespaces?: boolean; output?: Format },
): Promise<number> {
  const namespace = options.allNamespaces ? undefined : c.namespace;
  const list = await listRollouts(c.client, namespace);
  if (!list.ok)
    return fail(
      io,
      explain(
        list.error,
        namespace ? `rollouts in namespace "${namespace}"` : "rollouts",
        c.server,
      ),
    );
  if (options.output) {
    io.out(formatted({ apiVersion: "v1", kind: "List", items: list.value }, options.output));
    return 0;
  }
  if (list.value.length === 0) {
    io.err(namespace ? `No rollouts found in namespace ${namespace}.\n` : "No rollouts found.\n");
    return 0;
  }
  io.out(renderList(list.value, !namespace, Date.now()));
  return 0;
}

/**
 * Sets the command's annotations, then follows the Rollout (a watch, bounded by timeoutMs) until
 * its status shows the controller applied them, and says what was done and where the rollout is.
 */
export async function steerCommand(
  c: Connection,
  io: Io,
  command: Command,
  name: string,
  options: { timeoutMs: number; output?: Format },
): Promise<number> {
  const what = `rollout "${name}" in namespace "${c.namespace}"`;
  const patched = await steerRollout(c.client, c.namespace, name, command);
  if (!patched.ok) return fail(io, explain(patched.error, what, c.server));
  const { steer } = patched.value;

  let latest: CliRollout = patched.value.rollout;
  let unfollowed: string | undefined;
  if (!steer.applied(latest)) {
    const watching = (r: CliRollout | undefined) => {
      if (r) latest = r;
      return r !== undefined && !steer.applied(r);
    };
    const end = await follow<CliRollout>(
      c,
      rolloutOf(c.namespace, name),
      { onList: ([r]) => watching(r), onChange: (_type, r) => watching(r) },
      AbortSignal.timeout(options.timeoutMs),
    );
    if (end.kind === "failed") unfollowed = end.message;
  }
  if (options.output) {
    io.out(formatted(latest, options.output));
    return 0;
  }
  io.out(`rollout ${c.namespace}/${name}: ${steer.done.join("; ")}\n`);
  if (unfollowed) io.out(`  could not follow the rollout to see it applied: ${unfollowed}\n`);
  else if (!steer.applied(latest))
    io.out(
      `  not applied yet after ${options.timeoutMs / 1000}s: is the controller running? It applies the annotation once when it next reconciles.\n`,
    );
  io.out(`  ${renderSummary(latest, io.paint)}\n`);
  return 0;
}

export async function checkCommand(
  c: Connection,
  io: Io,
  options: {
    namespace?: string | undefined;
    serviceAccount?: { namespace: string; name: string };
    prometheusAddress?: string;
    skip: CheckName[];
    output?: Format;
  },
): Promise<number> {
  const items = await runChecks(c.client, { ...options, rbacYaml: readDeployRbac() });
  io.out(options.output ? formatted(items, options.output) : renderChecks(items, io.paint));
  return items.some((i) => i.outcome === "fail") ? 1 : 0;
}

/** `kubectl fledge lint FILE...`: offline, so no connection; exit 1 on any error. */
export function lintCommand(
  io: Io,
  files: readonly string[],
  read: ReadSource,
  options: { output?: Format | undefined; scrapeIntervalMs?: number | undefined },
): number {
  const findings: Finding[] = [];
  let unreadable = false;
  for (const file of files) {
    const source = read(file);
    if (!source.ok) {
      io.err(`error: ${source.error}\n`);
      unreadable = true;
      continue;
    }
    const result = lintText(source.text, file === "-" ? "(stdin)" : file, options);
    findings.push(...result.findings);
    for (const s of result.skipped) io.err(`${skippedLine(s)}\n`);
  }
  if (options.output) io.out(formatted(findings, options.output));
  else for (const f of findings) io.out(`${findingLine(f)}\n`);
  return unreadable ? 1 : exitCode(findings);
}
