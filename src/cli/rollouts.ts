import { GROUP, KIND, PLURAL, VERSION } from "../api/rollout.ts";
import type { KubeClient, KubeResult } from "../kube/client.ts";
import { describeFailure, kubeStream } from "../kube/request.ts";
import type { Connection } from "./connect.ts";
import type { CliEvent, CliRollout } from "./render.ts";
import { type Command, type Steering, steering } from "./steer.ts";

type List<T> = { metadata: { resourceVersion: string }; items: T[] };

export const rolloutsPath = (namespace: string | undefined) =>
  `/apis/${GROUP}/${VERSION}${namespace ? `/namespaces/${namespace}` : ""}/${PLURAL}`;

export const getRollout = (client: KubeClient, namespace: string, name: string) =>
  client.get<CliRollout>(`${rolloutsPath(namespace)}/${name}`);

/**
 * Writes a command's annotations on a Rollout, read first because resume depends on what holds
 * it; the one-shot value is a timestamp, new each time, so the controller applies it once. The
 * CLI and the dashboard's buttons both steer through here.
 */
export async function steerRollout(
  client: KubeClient,
  namespace: string,
  name: string,
  command: Command,
): Promise<KubeResult<{ steer: Steering; rollout: CliRollout }>> {
  const before = await getRollout(client, namespace, name);
  if (!before.ok) return before;
  const steer = steering(command, before.value, new Date().toISOString());
  const patched = await client.patch<CliRollout>(`${rolloutsPath(namespace)}/${name}`, {
    metadata: { annotations: steer.annotations },
  });
  return patched.ok ? { ok: true, value: { steer, rollout: patched.value } } : patched;
}

/** Rollouts of one namespace, or of all when namespace is undefined, sorted as kubectl sorts. */
export async function listRollouts(
  client: KubeClient,
  namespace: string | undefined,
): Promise<KubeResult<CliRollout[]>> {
  const list = await client.get<List<CliRollout>>(rolloutsPath(namespace));
  if (!list.ok) return list;
  const key = (r: CliRollout) => `${r.metadata.namespace}/${r.metadata.name}`;
  return { ok: true, value: list.value.items.sort((a, b) => key(a).localeCompare(key(b))) };
}

const eventTime = (e: CliEvent) => e.lastTimestamp ?? e.eventTime ?? "";

/** Events oldest first, as `kubectl describe` lists them. */
export const byTime = (events: CliEvent[]) =>
  [...events].sort((a, b) => eventTime(a).localeCompare(eventTime(b)));

/** Where a Rollout's Events are, selected on the server. */
export const eventsOf = (namespace: string, name: string): Selection => ({
  path: `/api/v1/namespaces/${namespace}/events`,
  fieldSelector: `involvedObject.kind=${KIND},involvedObject.name=${name}`,
});

/** One Rollout as a selection, so it can be listed and watched like its Events. */
export const rolloutOf = (namespace: string, name: string): Selection => ({
  path: rolloutsPath(namespace),
  fieldSelector: `metadata.name=${name}`,
});

export async function rolloutEvents(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<KubeResult<CliEvent[]>> {
  const { path, fieldSelector } = eventsOf(namespace, name);
  const list = await client.request<List<CliEvent>>("GET", path, undefined, undefined, {
    fieldSelector,
  });
  return list.ok ? { ok: true, value: byTime(list.value.items) } : list;
}

export type Selection = { path: string; fieldSelector: string };

type Named = { metadata?: { resourceVersion?: string } };

export type Follower<T> = {
  /** The whole selection, at the start and again whenever the watch cannot resume. */
  onList(items: T[]): boolean | Promise<boolean>;
  onChange(type: "ADDED" | "MODIFIED" | "DELETED", object: T): boolean | Promise<boolean>;
};

export type WatchEnd = { kind: "stopped" } | { kind: "failed"; message: string };

/**
 * Lists a selection and then watches it, handing each change over in order, until a callback
 * returns false, signal aborts or a request fails. The apiserver ends watches after a while;
 * the watch resumes from the last resourceVersion seen, and after 410 Gone lists afresh.
 */
export async function follow<T extends Named>(
  connection: Pick<Connection, "client" | "kubeConfig">,
  selection: Selection,
  follower: Follower<T>,
  signal?: AbortSignal,
): Promise<WatchEnd> {
  const { path, fieldSelector } = selection;
  let resourceVersion: string | undefined;
  for (;;) {
    if (signal?.aborted) return { kind: "stopped" };
    if (resourceVersion === undefined) {
      const list = await connection.client.request<List<T>>("GET", path, undefined, undefined, {
        fieldSelector,
      });
      if (!list.ok) return { kind: "failed", message: list.error.message };
      resourceVersion = list.value.metadata.resourceVersion;
      if (!(await follower.onList(list.value.items))) return { kind: "stopped" };
    }
    let gone = false;
    let failure: string | undefined;
    let stopped = false;
    let pending = Promise.resolve();
    const stop = new AbortController();
    const end = await kubeStream(connection.kubeConfig, {
      path,
      query: { watch: "true", fieldSelector, resourceVersion },
      signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
      onLine: (line) => {
        const event = JSON.parse(line) as { type: string; object: T & { code?: number } };
        if (event.type === "ERROR") {
          gone = event.object.code === 410;
          if (!gone) failure = line;
          return false;
        }
        if (event.type !== "ADDED" && event.type !== "MODIFIED" && event.type !== "DELETED")
          return true;
        resourceVersion = event.object.metadata?.resourceVersion;
        // One change at a time, in order, however fast they arrive.
        pending = pending.then(async () => {
          if (stopped || (await follower.onChange(event.type as "ADDED", event.object))) return;
          stopped = true;
          stop.abort();
        });
        return true;
      },
    });
    await pending;
    if (stopped || signal?.aborted) return { kind: "stopped" };
    if (failure) return { kind: "failed", message: failure };
    if (gone) resourceVersion = undefined;
    else if (end.kind === "failed")
      return { kind: "failed", message: describeFailure(end.failure) };
  }
}
