import { type CheckName, readDeployRbac, runChecks } from "./check.ts";
import { type Connection, explain } from "./connect.ts";
import { type Format, formatted, type Io } from "./output.ts";
import {
  type CliRollout,
  renderChecks,
  renderList,
  renderRollout,
  renderSummary,
} from "./render.ts";
import { getRollout, listRollouts, rolloutEvents, rolloutsPath, watchRollout } from "./rollouts.ts";
import { type Command, steering } from "./steer.ts";
import { redraw, untilSettled } from "./watch.ts";

const fail = (io: Io, message: string) => {
  io.err(`error: ${message}\n`);
  return 1;
};

/** The view of one rollout: the Rollout and its recent Events, rendered for a person. */
async function frameOf(c: Connection, io: Io, rollout: CliRollout): Promise<string> {
  const events = await rolloutEvents(c.client, rollout.metadata.namespace, rollout.metadata.name);
  // Events are context; a person allowed to read Rollouts but not Events still sees the rollout.
  return renderRollout(rollout, events.ok ? events.value : [], io.paint, Date.now());
}

export async function getCommand(
  c: Connection,
  io: Io,
  name: string,
  options: { watch?: boolean; output?: Format; columns?: number },
): Promise<number> {
  const got = await getRollout(c.client, c.namespace, name);
  if (!got.ok)
    return fail(
      io,
      explain(got.error, `rollout "${name}" in namespace "${c.namespace}"`, c.server),
    );
  // With -o, every version is a document of its own (YAML documents apart, as kubectl -w does).
  const show = async (r: CliRollout, previous: string | undefined) => {
    if (options.output) {
      const separator = previous !== undefined && options.output === "yaml" ? "---\n" : "";
      io.out(separator + formatted(r, options.output));
      return "";
    }
    const frame = await frameOf(c, io, r);
    if (frame !== previous)
      io.out(redraw(previous, frame, io.tty ? { columns: options.columns ?? 80 } : undefined));
    return frame;
  };
  let shown = await show(got.value, undefined);
  if (!options.watch) return 0;

  const settled = untilSettled(got.value);
  let last: CliRollout = got.value;
  const end = await watchRollout(c, c.namespace, name, got.value.metadata, async (r) => {
    last = r;
    shown = await show(r, shown);
    return !settled(r);
  });
  if (end.kind === "deleted") return fail(io, `rollout "${name}" was deleted`);
  if (end.kind === "failed") return fail(io, `watch failed: ${end.message}`);
  // Like `kubectl rollout status`: a script can tell a promotion from a rollback.
  return last.status?.phase === "Healthy" ? 0 : 1;
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
  const before = await getRollout(c.client, c.namespace, name);
  if (!before.ok) return fail(io, explain(before.error, what, c.server));
  const steer = steering(command, before.value, new Date().toISOString());
  const patched = await c.client.patch<CliRollout & { metadata: { resourceVersion: string } }>(
    `${rolloutsPath(c.namespace)}/${name}`,
    { metadata: { annotations: steer.annotations } },
  );
  if (!patched.ok) return fail(io, explain(patched.error, what, c.server));

  let latest: CliRollout = patched.value;
  if (!steer.applied(latest)) {
    const deadline = AbortSignal.timeout(options.timeoutMs);
    await watchRollout(
      c,
      c.namespace,
      name,
      patched.value.metadata,
      async (r) => {
        latest = r;
        return !steer.applied(r);
      },
      deadline,
    );
  }
  if (options.output) {
    io.out(formatted(latest, options.output));
    return 0;
  }
  io.out(`rollout ${c.namespace}/${name}: ${steer.done.join("; ")}\n`);
  if (!steer.applied(latest))
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
