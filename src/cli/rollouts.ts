import { GROUP, KIND, PLURAL, VERSION } from "../api/rollout.ts";
import type { KubeClient, KubeResult } from "../kube/client.ts";
import { describeFailure, kubeStream } from "../kube/request.ts";
import type { Connection } from "./connect.ts";
import type { CliEvent, CliRollout } from "./render.ts";

type List<T> = { metadata: { resourceVersion: string }; items: T[] };

export const rolloutsPath = (namespace: string | undefined) =>
  `/apis/${GROUP}/${VERSION}${namespace ? `/namespaces/${namespace}` : ""}/${PLURAL}`;

export const getRollout = (client: KubeClient, namespace: string, name: string) =>
  client.get<CliRollout & { metadata: { resourceVersion: string } }>(
    `${rolloutsPath(namespace)}/${name}`,
  );

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

/** The Rollout's Events, oldest first, as `kubectl describe` lists them. */
export async function rolloutEvents(
  client: KubeClient,
  namespace: string,
  name: string,
): Promise<KubeResult<CliEvent[]>> {
  const list = await client.request<List<CliEvent>>(
    "GET",
    `/api/v1/namespaces/${namespace}/events`,
    undefined,
    undefined,
    { fieldSelector: `involvedObject.kind=${KIND},involvedObject.name=${name}` },
  );
  if (!list.ok) return list;
  return {
    ok: true,
    value: list.value.items.sort((a, b) => eventTime(a).localeCompare(eventTime(b))),
  };
}

export type WatchEnd =
  | { kind: "stopped" }
  | { kind: "deleted" }
  | { kind: "failed"; message: string };

type WatchEvent = {
  type: string;
  object: CliRollout & { metadata: { resourceVersion: string }; code?: number };
};

/**
 * Follows one Rollout with a watch from resourceVersion, calling onChange with each new version
 * until onChange returns false, the Rollout is deleted or the watch fails. The apiserver ends
 * watches after a while; the loop picks up from the last version seen, and after 410 Gone it
 * starts again from a fresh read. Aborting signal stops it.
 */
export async function watchRollout(
  connection: Pick<Connection, "client" | "kubeConfig">,
  namespace: string,
  name: string,
  from: { resourceVersion: string },
  onChange: (rollout: CliRollout) => Promise<boolean>,
  signal?: AbortSignal,
): Promise<WatchEnd> {
  let resourceVersion: string | undefined = from.resourceVersion;
  for (;;) {
    if (signal?.aborted) return { kind: "stopped" };
    if (resourceVersion === undefined) {
      const fresh = await getRollout(connection.client, namespace, name);
      if (!fresh.ok)
        return fresh.error.reason === "NotFound"
          ? { kind: "deleted" }
          : { kind: "failed", message: fresh.error.message };
      resourceVersion = fresh.value.metadata.resourceVersion;
      if (!(await onChange(fresh.value))) return { kind: "stopped" };
    }
    let outcome: WatchEnd | "gone" | undefined;
    let stopped = false;
    let pending = Promise.resolve();
    const stop = new AbortController();
    const end = await kubeStream(connection.kubeConfig, {
      path: rolloutsPath(namespace),
      query: { watch: "true", fieldSelector: `metadata.name=${name}`, resourceVersion },
      signal: signal ? AbortSignal.any([signal, stop.signal]) : stop.signal,
      onLine: (line) => {
        const event = JSON.parse(line) as WatchEvent;
        if (event.type === "ERROR") {
          outcome = event.object.code === 410 ? "gone" : { kind: "failed", message: line };
          return false;
        }
        resourceVersion = event.object.metadata.resourceVersion;
        if (event.type === "DELETED") {
          outcome = { kind: "deleted" };
          return false;
        }
        // Changes are handed over one at a time, in order, however fast they arrive.
        pending = pending.then(async () => {
          if (stopped || (await onChange(event.object))) return;
          stopped = true;
          stop.abort();
        });
        return true;
      },
    });
    await pending;
    if (stopped || signal?.aborted) return { kind: "stopped" };
    if (outcome === "gone") resourceVersion = undefined;
    else if (outcome) return outcome;
    else if (end.kind === "failed")
      return { kind: "failed", message: describeFailure(end.failure) };
  }
}
