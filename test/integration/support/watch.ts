import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import { kubeRequest, kubeStream } from "../../../src/kube/request.ts";
import { adminKubeConfig, eventually } from "./cluster.ts";

type Meta = { metadata: { name: string; resourceVersion: string } };

/** One version of an object, as the apiserver stored it; `rv` orders versions of any objects of one etcd. */
export type Version<T> = { rv: number; type: string; object: T };

export type ObjectWatch<T> = {
  /** Every version seen so far, oldest first, starting with the one current at the list. */
  readonly versions: Version<T>[];
  /** Resolves once the list is read: no later version can be missed from then on. */
  listed: Promise<void>;
  /** Waits until the watch has brought the object's current version, then stops watching. */
  stop(): Promise<void>;
  /** Stops watching at once (again, after stop(), does nothing). */
  close(): Promise<void>;
};

/**
 * Every version of one object, by a list and then a watch from the list's resourceVersion
 * (resumed where it left off if the stream ends): unlike polling, no version is missed however
 * briefly it lasted. A watch that can no longer resume (410 Gone) fails the test rather than
 * skipping versions.
 */
export function watchObject<T extends Meta>(
  collection: string,
  name: string,
  kubeConfig: KubeConfig = adminKubeConfig(),
): ObjectWatch<T> {
  return watchVersions(collection, kubeConfig, name);
}

/** Every version of every object of a collection, as watchObject does for one; stop() closes it. */
export function watchCollection<T extends Meta>(
  collection: string,
  kubeConfig: KubeConfig = adminKubeConfig(),
): ObjectWatch<T> {
  return watchVersions(collection, kubeConfig);
}

function watchVersions<T extends Meta>(
  collection: string,
  kubeConfig: KubeConfig,
  name?: string,
): ObjectWatch<T> {
  const versions: Version<T>[] = [];
  const abort = new AbortController();
  const fieldSelector = name === undefined ? undefined : `metadata.name=${name}`;
  const add = (type: string, object: T) =>
    versions.push({ rv: Number(object.metadata.resourceVersion), type, object });
  let listedRv = "";
  const listed = (async () => {
    const list = await kubeRequest<{ metadata: { resourceVersion: string }; items: T[] }>(
      kubeConfig,
      { path: collection, query: { fieldSelector }, timeoutMs: 30_000 },
    );
    if (!list.ok) throw new Error(`list ${collection}: ${JSON.stringify(list.failure)}`);
    for (const item of list.value.items) add("LISTED", item);
    listedRv = list.value.metadata.resourceVersion;
  })();
  const watching = (async () => {
    await listed;
    let rv = listedRv;
    while (!abort.signal.aborted) {
      let gone: unknown;
      const end = await kubeStream(kubeConfig, {
        path: collection,
        query: { watch: "true", resourceVersion: rv, fieldSelector, allowWatchBookmarks: "true" },
        signal: abort.signal,
        onLine: (line) => {
          const event = JSON.parse(line) as { type: string; object: T };
          if (event.type === "ERROR") {
            gone = event.object;
            return false;
          }
          rv = event.object.metadata.resourceVersion;
          if (event.type !== "BOOKMARK") add(event.type, event.object);
          return undefined;
        },
      });
      if (gone) throw new Error(`watch ${collection}/${name ?? ""} ended: ${JSON.stringify(gone)}`);
      if (end.kind === "failed") await sleep(200);
    }
  })();
  // Kept for stop(), which reports it; not an unhandled rejection meanwhile.
  watching.catch(() => {});
  return {
    versions,
    listed,
    async stop() {
      if (name === undefined) return this.close();
      const current = await kubeRequest<T>(kubeConfig, {
        path: `${collection}/${name}`,
        timeoutMs: 30_000,
      });
      if (current.ok) {
        const wanted = Number(current.value.metadata.resourceVersion);
        await Promise.race([
          watching,
          eventually(`the watch of ${name} to reach ${wanted}`, () =>
            versions.some((v) => v.rv >= wanted) ? true : undefined,
          ),
        ]);
      }
      abort.abort();
      await watching;
    },
    async close() {
      abort.abort();
      await watching.catch(() => {});
    },
  };
}
