import { setTimeout as sleep } from "node:timers/promises";
import {
  CoreV1Api,
  type KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1Pod,
  Watch,
} from "@kubernetes/client-node";
import { log } from "./process.ts";

/** A pod whose template carries this annotation with value "true" is left Pending and unready. */
export const UNREADY_ANNOTATION = "fledge.dev/test-unready";
export const FAKE_NODE = "fake-node";
const NODE_IP = "10.0.0.1";
// Pods come as fast as kube-controller-manager makes them (a wave of a thousand canaries, then
// their primaries' surge); each takes two sequential writes of ~0.1-0.7 s on a loaded 2-core
// apiserver, so 16 in flight could start only ~10-80 pods a second. 64 keeps this fake kubelet
// out of what the benchmark measures, well inside the apiserver's 200 mutating in flight.
const CONCURRENCY = 64;

export interface FakeKubelet {
  stop(): Promise<void>;
  /** Its own lag, for the benchmark: see KubeletLag. */
  lag(): KubeletLag;
}

/**
 * What the fake kubelet itself adds to a pod's start: for each pod it made Ready, when (epoch ms)
 * and how long after its watch first showed the pod (the queue's wait, the binding and the
 * status write); and the most pods it had waiting at once since the last resetPeak().
 */
export interface KubeletLag {
  /** waitMs: of lagMs, the time in its queue before its first handling began. */
  readied: ReadonlyArray<{ at: number; lagMs: number; waitMs: number }>;
  queuePeak: number;
  resetPeak(): void;
}

function isReady(pod: V1Pod): boolean {
  return (
    pod.status?.phase === "Running" &&
    (pod.status.conditions ?? []).some((c) => c.type === "Ready" && c.status === "True")
  );
}

function statusCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown }).code;
  return typeof code === "number" ? code : undefined;
}

/**
 * Stands in for kubelets: binds pods to one fake Node, marks them Running and Ready through
 * pods/status, and completes graceful deletions, so that the real controllers see pods go
 * through the life they have in a cluster. Binding matters because the EndpointSlice controller
 * skips pods whose Node it cannot find, and a bound pod's deletion waits for its kubelet.
 */
export async function startFakeKubelet(kubeConfig: KubeConfig): Promise<FakeKubelet> {
  const core = kubeConfig.makeApiClient(CoreV1Api);
  const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
  await ensureNode(core, mergePatch);

  let stopped = false;
  let abort: AbortController | undefined;
  let ipCounter = 0;
  const queue = new Map<string, V1Pod>();
  const busy = new Set<string>();
  const started = new Set<string>();
  /** When the watch first showed each pod not yet started, by uid: one entry per pending pod. */
  const firstSeen = new Map<string, number>();
  /** When its first handling began, by uid, for the same pods. */
  const firstHandled = new Map<string, number>();
  const readied: { at: number; lagMs: number; waitMs: number }[] = [];
  let queuePeak = 0;
  let running = 0;
  const idle: Array<() => void> = [];

  async function handle(pod: V1Pod): Promise<void> {
    const name = pod.metadata?.name ?? "";
    const namespace = pod.metadata?.namespace ?? "";
    if (pod.metadata?.deletionTimestamp) {
      if (pod.spec?.nodeName) {
        // As the kubelet does once containers stopped. kube-apiserver ignores the query's
        // gracePeriodSeconds when a body is sent, so it goes in the body.
        await core.deleteNamespacedPod({
          name,
          namespace,
          body: { gracePeriodSeconds: 0, preconditions: { uid: pod.metadata.uid } },
        });
      }
      return;
    }
    const uid = pod.metadata?.uid ?? "";
    // Events can be older than our own last write: each pod is started once, and keeps its IP.
    if (pod.metadata?.annotations?.[UNREADY_ANNOTATION] === "true" || isReady(pod)) return;
    if (started.has(uid)) return;
    if (firstSeen.has(uid) && !firstHandled.has(uid)) firstHandled.set(uid, Date.now());
    if (!pod.spec?.nodeName) {
      try {
        await core.createNamespacedPodBinding({
          name,
          namespace,
          body: { metadata: { name }, target: { kind: "Node", name: FAKE_NODE } },
        });
      } catch (error) {
        // 409: bound already, by our own earlier attempt on an older event.
        if (statusCode(error) !== 409) throw error;
      }
    }
    // Not loopback: EndpointSlice validation rejects 127.0.0.0/8 addresses.
    const n = (ipCounter++ % 65000) + 1;
    const podIP = `10.244.${n >> 8}.${n & 255}`;
    const now = new Date();
    const condition = (type: string) => ({ type, status: "True", lastTransitionTime: now });
    await core.patchNamespacedPodStatus(
      {
        name,
        namespace,
        body: {
          status: {
            phase: "Running",
            hostIP: NODE_IP,
            hostIPs: [{ ip: NODE_IP }],
            podIP,
            podIPs: [{ ip: podIP }],
            startTime: now,
            conditions: ["PodScheduled", "Initialized", "ContainersReady", "Ready"].map(condition),
            containerStatuses: (pod.spec?.containers ?? []).map((c) => ({
              name: c.name,
              image: c.image ?? "",
              imageID: "",
              ready: true,
              started: true,
              restartCount: 0,
              state: { running: { startedAt: now } },
            })),
          },
        },
      },
      mergePatch,
    );
    started.add(uid);
    const at = Date.now();
    const seen = firstSeen.get(uid) ?? at;
    readied.push({ at, lagMs: at - seen, waitMs: (firstHandled.get(uid) ?? seen) - seen });
    firstSeen.delete(uid);
    firstHandled.delete(uid);
  }

  function pump(): void {
    for (const [key, pod] of queue) {
      if (running >= CONCURRENCY || stopped) return;
      // A pod being handled keeps its newest event queued until that handling ends.
      if (busy.has(key)) continue;
      queue.delete(key);
      busy.add(key);
      running++;
      handle(pod)
        .catch((error: unknown) => {
          // 404 and 409 mean the pod moved on (deleted, or already bound); a later event
          // carries its new state.
          const code = statusCode(error);
          if (code !== 404 && code !== 409 && !stopped) {
            log(`fake kubelet: ${key}: ${String(error).slice(0, 300)}`);
          }
        })
        .finally(() => {
          busy.delete(key);
          running--;
          if (running === 0 && queue.size === 0) for (const resolve of idle.splice(0)) resolve();
          pump();
        });
    }
  }

  function enqueue(pod: V1Pod): void {
    const key = `${pod.metadata?.namespace}/${pod.metadata?.name}`;
    const uid = pod.metadata?.uid ?? "";
    const pending =
      !pod.metadata?.deletionTimestamp &&
      pod.metadata?.annotations?.[UNREADY_ANNOTATION] !== "true" &&
      !isReady(pod);
    if (pending && !started.has(uid) && !firstSeen.has(uid)) firstSeen.set(uid, Date.now());
    queue.set(key, pod);
    queuePeak = Math.max(queuePeak, queue.size);
    pump();
  }

  async function listAndWatch(): Promise<void> {
    let resourceVersion: string | undefined;
    while (!stopped) {
      try {
        if (resourceVersion === undefined) {
          const list = await core.listPodForAllNamespaces();
          for (const pod of list.items) enqueue(pod);
          resourceVersion = list.metadata?.resourceVersion;
        }
        const ended = Promise.withResolvers<unknown>();
        abort = await new Watch(kubeConfig).watch(
          "/api/v1/pods",
          { resourceVersion, allowWatchBookmarks: true },
          (type, object: V1Pod) => {
            if (type === "ERROR") {
              // 410 Gone: the resource version is too old to resume from.
              resourceVersion = undefined;
              return;
            }
            resourceVersion = object.metadata?.resourceVersion ?? resourceVersion;
            if (type === "ADDED" || type === "MODIFIED") enqueue(object);
            else if (type === "DELETED") {
              started.delete(object.metadata?.uid ?? "");
              firstSeen.delete(object.metadata?.uid ?? "");
              firstHandled.delete(object.metadata?.uid ?? "");
            }
          },
          ended.resolve,
        );
        // An error ends the watch too, e.g. while kube-apiserver restarts: back off a little.
        if ((await ended.promise) && !stopped) await sleep(200);
      } catch (error) {
        if (!stopped) await sleep(statusCode(error) === 410 ? 0 : 200);
        if (statusCode(error) === 410) resourceVersion = undefined;
      }
    }
  }

  const loop = listAndWatch();
  return {
    lag: () => ({
      readied,
      queuePeak,
      resetPeak: () => {
        queuePeak = queue.size;
      },
    }),
    async stop() {
      stopped = true;
      abort?.abort();
      queue.clear();
      if (running > 0) await new Promise<void>((resolve) => idle.push(resolve));
      await loop;
    },
  };
}

async function ensureNode(
  core: CoreV1Api,
  mergePatch: ReturnType<typeof setHeaderOptions>,
): Promise<void> {
  try {
    await core.createNode({ body: { metadata: { name: FAKE_NODE, labels: { fake: "true" } } } });
  } catch (error) {
    if (statusCode(error) !== 409) throw error;
  }
  const now = new Date();
  await core.patchNodeStatus(
    {
      name: FAKE_NODE,
      body: {
        status: {
          addresses: [
            { type: "InternalIP", address: NODE_IP },
            { type: "Hostname", address: FAKE_NODE },
          ],
          capacity: { cpu: "1000", memory: "4000Gi", pods: "100000" },
          allocatable: { cpu: "1000", memory: "4000Gi", pods: "100000" },
          conditions: [
            {
              type: "Ready",
              status: "True",
              reason: "KubeletReady",
              lastHeartbeatTime: now,
              lastTransitionTime: now,
            },
          ],
        },
      },
    },
    mergePatch,
  );
}
