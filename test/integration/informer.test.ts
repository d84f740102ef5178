import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { connect, createServer, type Server, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CoreV1Api,
  KubeConfig,
  PatchStrategy,
  setHeaderOptions,
  type V1ConfigMap,
} from "@kubernetes/client-node";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { z } from "zod";
import { startManager } from "../../src/controller/manager.ts";
import { createInformer, type Informer, type WatchEventType } from "../../src/kube/informer.ts";
import type { ApiAccess } from "../../src/kube/request.ts";
import { type Logger, silentLogger } from "../../src/observability/logger.ts";
import { type ControlPlane, startControlPlane } from "../harness/control-plane.ts";
import { loopbackServer } from "./support/loopback.ts";

const LABEL = "fledge.dev/informer-test";

const Slim = z.object({
  metadata: z.object({ name: z.string(), namespace: z.string() }),
  data: z.object({ color: z.string() }).partial().optional(),
});
interface Color {
  metadata: { name: string; namespace: string };
  color: string | undefined;
}
/** What reconcile would keep: name, namespace and one field; everything else is dropped. */
function toColor(raw: unknown): Color | undefined {
  const parsed = Slim.safeParse(raw);
  if (!parsed.success) return undefined;
  return { metadata: parsed.data.metadata, color: parsed.data.data?.color };
}

function adminConfig(path: string): KubeConfig {
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromFile(path);
  return kubeConfig;
}

async function namespace(core: CoreV1Api, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

function configMap(name: string, color: string, selected = true): V1ConfigMap {
  return {
    metadata: { name, labels: selected ? { [LABEL]: "yes" } : { other: "yes" } },
    data: { color, filler: "x".repeat(200) },
  };
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

async function setColor(core: CoreV1Api, ns: string, name: string, color: string) {
  await core.patchNamespacedConfigMap(
    { name, namespace: ns, body: { data: { color } } },
    mergePatch,
  );
}

/** Every event as "TYPE name color(old color)", for exact comparisons. */
function record(informer: Informer<Color>): string[] {
  const events: string[] = [];
  informer.onEvent((type: WatchEventType, obj, old) => {
    events.push(`${type} ${obj.metadata.name} ${obj.color}${old ? `(${old.color})` : ""}`);
  });
  return events;
}

async function until(what: string, probe: () => boolean, timeoutMs = 20_000): Promise<number> {
  const started = performance.now();
  while (!probe()) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
  return performance.now() - started;
}

type LogLine = { level: number; msg: string; resource?: string } & Record<string, unknown>;
const WARN = 40;
const CANNOT_RESYNC =
  "informer cannot list and watch; its cache may be stale; retrying with backoff";
const RECOVERED = "informer recovered: lists and watches work again";

/** A logger whose messages the test can read, to see which path the informer took. */
function capturingLogger(): { logger: Logger; messages: string[]; lines: LogLine[] } {
  const messages: string[] = [];
  const lines: LogLine[] = [];
  const logger = pino(
    { level: "debug" },
    {
      write(line: string) {
        const entry = JSON.parse(line) as LogLine;
        lines.push(entry);
        messages.push(entry.msg);
      },
    },
  );
  return { logger, messages, lines };
}

/** How many times each informer (by its resource) logged `msg`. */
const countsByResource = (lines: LogLine[], msg: string) => {
  const counts: Record<string, number> = {};
  for (const l of lines)
    if (l.msg === msg) counts[l.resource ?? "?"] = (counts[l.resource ?? "?"] ?? 0) + 1;
  return counts;
};

describe("informer against the tier's control plane", () => {
  const kubeConfig = adminConfig(inject("kubeconfig"));
  const core = kubeConfig.makeApiClient(CoreV1Api);

  test("pages through a large selected list and caches only the transformed objects", async () => {
    const ns = await namespace(core, "informer-paging");
    const count = 1200;
    const names = Array.from({ length: count }, (_, i) => `cm-${String(i).padStart(4, "0")}`);
    const began = performance.now();
    for (let i = 0; i < count; i += 100) {
      await Promise.all(
        names
          .slice(i, i + 100)
          .map((name) =>
            core.createNamespacedConfigMap({ namespace: ns, body: configMap(name, "blue") }),
          ),
      );
    }
    await core.createNamespacedConfigMap({
      namespace: ns,
      body: configMap("unselected", "red", false),
    });
    const created = performance.now() - began;

    const informer = createInformer({
      kubeConfig,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: `${LABEL}=yes`,
      transform: toColor,
      logger: silentLogger,
      pageSize: 500,
    });
    const events = record(informer);
    const listing = performance.now();
    await informer.start();
    const listed = performance.now() - listing;
    try {
      expect(informer.synced).toBe(true);
      expect(informer.list()).toHaveLength(count);
      expect(events).toHaveLength(count);
      expect(events.every((event) => event.startsWith("ADDED "))).toBe(true);
      expect(informer.get(ns, "unselected")).toBeUndefined();
      expect(informer.get(ns, "cm-0042")).toEqual({
        metadata: { name: "cm-0042", namespace: ns },
        color: "blue",
      });
      console.info(
        `informer: created ${count} ConfigMaps in ${created.toFixed(0)} ms, ` +
          `listed them in pages of 500 in ${listed.toFixed(0)} ms`,
      );
    } finally {
      await informer.stop();
    }
  });

  test("delivers adds, updates and deletes, and treats leaving the selector as a delete", async () => {
    const ns = await namespace(core, "informer-events");
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap("before", "blue") });
    const informer = createInformer({
      kubeConfig,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: `${LABEL}=yes`,
      transform: toColor,
      logger: silentLogger,
    });
    const events = record(informer);
    await informer.start();
    try {
      await core.createNamespacedConfigMap({ namespace: ns, body: configMap("web", "green") });
      await core.createNamespacedConfigMap({ namespace: ns, body: configMap("skip", "x", false) });
      await setColor(core, ns, "web", "yellow");
      await core.patchNamespacedConfigMap(
        { name: "before", namespace: ns, body: { metadata: { labels: { [LABEL]: null } } } },
        mergePatch,
      );
      await core.deleteNamespacedConfigMap({ name: "web", namespace: ns });
      await until("the delete", () => events.length >= 5);
      await sleep(200);
      expect(events).toEqual([
        "ADDED before blue",
        "ADDED web green",
        "MODIFIED web yellow(green)",
        "DELETED before blue(blue)",
        "DELETED web yellow(yellow)",
      ]);
      expect(informer.list()).toEqual([]);
    } finally {
      await informer.stop();
    }
  });

  test("a cluster-wide informer sees objects in every namespace", async () => {
    const nsA = await namespace(core, "informer-wide-a");
    const nsB = await namespace(core, "informer-wide-b");
    const selector = `${LABEL}-wide=${nsA}`;
    const informer = createInformer({
      kubeConfig,
      path: "/api/v1/configmaps",
      labelSelector: selector,
      transform: toColor,
      logger: silentLogger,
    });
    await informer.start();
    try {
      for (const ns of [nsA, nsB]) {
        await core.createNamespacedConfigMap({
          namespace: ns,
          body: {
            metadata: { name: "same", labels: { [`${LABEL}-wide`]: nsA } },
            data: { color: ns },
          },
        });
      }
      await until("both namespaces", () => informer.list().length === 2);
      expect(informer.get(nsA, "same")?.color).toBe(nsA);
      expect(informer.get(nsB, "same")?.color).toBe(nsB);
    } finally {
      await informer.stop();
    }
  });
});

test("start() resolves, unsynced, when stop() comes before the first list succeeds", async () => {
  const unreachable = new KubeConfig();
  unreachable.loadFromOptions({
    clusters: [{ name: "c", server: "https://127.0.0.1:1", skipTLSVerify: true }],
    users: [{ name: "u", token: "t" }],
    contexts: [{ name: "x", cluster: "c", user: "u" }],
    currentContext: "x",
  });
  const informer = createInformer({
    kubeConfig: unreachable,
    path: "/api/v1/configmaps",
    transform: toColor,
    logger: silentLogger,
  });
  const starting = informer.start();
  await sleep(500);
  await informer.stop();
  await starting;
  expect(informer.synced).toBe(false);
  expect(informer.list()).toEqual([]);
});

/**
 * A TCP relay in front of kube-apiserver that the test can cut, as a network would: TLS passes
 * through untouched, so the informer talks to the real apiserver and only loses its connection.
 */
interface Relay {
  url: string;
  cut(): void;
  restore(): void;
  /** Holds back the answers on the connections open now (a watch lagging); new ones pass. */
  stall(): void;
  /** Lets the held answers through. */
  unstall(): void;
  close(): Promise<void>;
}

async function startRelay(target: URL): Promise<Relay> {
  let open = true;
  const sockets = new Set<Socket>();
  const answers = new Map<Socket, Socket>();
  const stalled = new Map<Socket, Socket>();
  const server: Server = createServer((client) => {
    if (!open) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    answers.set(upstream, client);
    upstream.on("close", () => answers.delete(upstream));
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    cut() {
      open = false;
      for (const socket of sockets) socket.resetAndDestroy();
    },
    stall() {
      for (const [upstream, client] of answers) {
        upstream.unpipe(client);
        upstream.pause();
        stalled.set(upstream, client);
      }
    },
    unstall() {
      for (const [upstream, client] of stalled) upstream.pipe(client);
      stalled.clear();
    },
    restore() {
      open = true;
    },
    close: () =>
      new Promise((resolve) => {
        for (const socket of sockets) socket.destroy();
        server.close(() => resolve());
      }),
  };
}

describe("informer across disconnects, apiserver restarts and 410 Gone", () => {
  let controlPlane: ControlPlane;
  let core: CoreV1Api;
  let relay: Relay;
  let relayed: KubeConfig;

  beforeAll(async () => {
    controlPlane = await startControlPlane();
    core = controlPlane.kubeConfig.makeApiClient(CoreV1Api);
    relay = await startRelay(new URL(controlPlane.url));
    relayed = new KubeConfig();
    const yaml = await readFile(controlPlane.kubeconfigPath, "utf8");
    relayed.loadFromString(yaml.replace(controlPlane.url, relay.url));
  });
  afterAll(async () => {
    await relay?.close();
    await controlPlane?.stop();
  });

  function informerIn(ns: string, kubeConfig: ApiAccess, logger: Logger = silentLogger) {
    return createInformer({
      kubeConfig,
      path: `/api/v1/namespaces/${ns}/configmaps`,
      labelSelector: `${LABEL}=yes`,
      transform: toColor,
      logger,
    });
  }

  test("resumes from the last resourceVersion after a dropped connection, missing nothing, and says it reconnected", async () => {
    const ns = await namespace(core, "informer-drop");
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap("a", "blue") });
    const { logger, messages } = capturingLogger();
    const informer = informerIn(ns, relayed, logger);
    const events = record(informer);
    let reconnects = 0;
    informer.onReconnect(() => reconnects++);
    await informer.start();
    try {
      await sleep(300);
      expect(reconnects).toBe(0);
      relay.cut();
      await core.createNamespacedConfigMap({ namespace: ns, body: configMap("b", "green") });
      await setColor(core, ns, "a", "red");
      await sleep(300);
      relay.restore();
      await until("the changes made while cut off", () => events.length >= 3);
      expect(events).toEqual(["ADDED a blue", "ADDED b green", "MODIFIED a red(blue)"]);
      // Told once, when the watch opened again; not for the first one, nor for each failure.
      expect(reconnects).toBe(1);
      expect(messages).toContain("watch failed; resuming");
      expect(messages).not.toContain("watch expired; relisting");
    } finally {
      relay.restore();
      await informer.stop();
    }
  });

  test("answers with our own write while the watch lags, and does not tell its echo", async () => {
    const ns = await namespace(core, "informer-own");
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap("a", "blue") });
    const informer = informerIn(ns, relayed);
    const events = record(informer);
    await informer.start();
    try {
      relay.cut();
      informer.remember(
        await core.patchNamespacedConfigMap(
          { name: "a", namespace: ns, body: { data: { color: "red" } } },
          mergePatch,
        ),
      );
      expect(informer.get(ns, "a")?.color).toBe("red");
      await setColor(core, ns, "a", "green");
      expect(informer.get(ns, "a")?.color).toBe("red");
      relay.restore();
      await until("their write after ours", () => informer.get(ns, "a")?.color === "green");
      expect(events).toEqual(["ADDED a blue", "MODIFIED a green(red)"]);
    } finally {
      relay.restore();
      await informer.stop();
    }
  });

  test("readAfresh answers with what the apiserver holds while the watch lags, tells listeners once, and shares one list among calls made during another", async () => {
    const ns = await namespace(core, "informer-afresh");
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap("a", "blue") });
    // One connection per request, so that a stall holds the watch and not the lists after it.
    let requests = 0;
    const access: ApiAccess = {
      getCurrentCluster: () => relayed.getCurrentCluster(),
      async applyToHTTPSOptions(options) {
        requests++;
        await relayed.applyToHTTPSOptions(options);
        options.agent = new https.Agent({ keepAlive: false });
      },
    };
    const informer = informerIn(ns, access);
    const events = record(informer);
    await informer.start();
    try {
      // Once a change has come through, the watch is open, and the stall holds it.
      await setColor(core, ns, "a", "navy");
      await until("the watch open", () => events.length === 2);
      relay.stall();
      await setColor(core, ns, "a", "green");
      await core.createNamespacedConfigMap({ namespace: ns, body: configMap("b", "red") });
      await sleep(300);
      expect(informer.get(ns, "a")?.color).toBe("navy");
      const before = requests;
      const reads = [informer.readAfresh(), informer.readAfresh(), informer.readAfresh()];
      expect(await Promise.all(reads)).toEqual([{ ok: true }, { ok: true }, { ok: true }]);
      // The first call's list, and one the other two share: begun after theirs, it sees them.
      expect(requests - before).toBe(2);
      expect(informer.get(ns, "a")?.color).toBe("green");
      expect(informer.get(ns, "b")?.color).toBe("red");
      const told = [
        "ADDED a blue",
        "MODIFIED a navy(blue)",
        "MODIFIED a green(navy)",
        "ADDED b red",
      ];
      expect(events).toEqual(told);
      relay.unstall();
      await core.createNamespacedConfigMap({ namespace: ns, body: configMap("c", "white") });
      await until("the watch past what was read afresh", () => events.length > told.length);
      await sleep(200);
      expect(events).toEqual([...told, "ADDED c white"]);
    } finally {
      relay.unstall();
      await informer.stop();
    }
  });

  test("keeps delivering events after kube-apiserver restarts", async () => {
    const ns = await namespace(core, "informer-restart");
    await core.createNamespacedConfigMap({ namespace: ns, body: configMap("a", "blue") });
    const { logger, messages } = capturingLogger();
    const informer = informerIn(ns, controlPlane.kubeConfig, logger);
    const events = record(informer);
    await informer.start();
    try {
      const restarting = performance.now();
      await controlPlane.restartApiserver();
      const restarted = performance.now() - restarting;
      const writing = performance.now();
      await eventuallyWrites(() =>
        core.createNamespacedConfigMap({ namespace: ns, body: configMap("after", "green") }),
      );
      const lag = await until("the object made after the restart", () =>
        events.includes("ADDED after green"),
      );
      const resumed = performance.now() - writing;
      await setColor(core, ns, "a", "red");
      await until("an update after the restart", () => events.includes("MODIFIED a red(blue)"));
      console.info(
        `informer: kube-apiserver restart took ${restarted.toFixed(0)} ms; the first write after ` +
          `it was seen ${resumed.toFixed(0)} ms after the restart (${lag.toFixed(0)} ms after the ` +
          `write was accepted); paths taken: ${[...new Set(messages)].join(", ")}`,
      );
    } finally {
      await informer.stop();
    }
  });

  test("re-lists on 410 Gone and emits the differences against the cache", async () => {
    const ns = await namespace(core, "informer-gone");
    for (const name of ["keep", "change", "remove"]) {
      await core.createNamespacedConfigMap({ namespace: ns, body: configMap(name, "blue") });
    }
    const { logger, messages } = capturingLogger();
    const informer = informerIn(ns, relayed, logger);
    const events = record(informer);
    await informer.start();
    try {
      // Cut off, the informer's resourceVersion stays where it was. A restarted apiserver's watch
      // cache starts at etcd's current revision, so resuming from an older one is 410 Gone.
      relay.cut();
      await controlPlane.restartApiserver();
      await eventuallyWrites(() =>
        core.createNamespacedConfigMap({ namespace: ns, body: configMap("new", "green") }),
      );
      await setColor(core, ns, "change", "red");
      await core.deleteNamespacedConfigMap({ name: "remove", namespace: ns });
      relay.restore();
      await until("the relist", () => events.length >= 6);
      await sleep(200);
      expect(events.slice(3).sort()).toEqual(
        ["ADDED new green", "DELETED remove blue(blue)", "MODIFIED change red(blue)"].sort(),
      );
      expect(messages).toContain("watch expired; relisting");
      expect(
        informer
          .list()
          .map((cm) => cm.metadata.name)
          .sort(),
      ).toEqual(["change", "keep", "new"]);

      // And the watch that follows the relist is live.
      await setColor(core, ns, "keep", "violet");
      await until("an update after the relist", () =>
        events.includes("MODIFIED keep violet(blue)"),
      );
    } finally {
      relay.restore();
      await informer.stop();
    }
  });

  test("kube-apiserver down past 10 s: one warning per informer, /readyz 503 naming them, the metrics say so; all clear once it is back", async () => {
    const ns = await namespace(core, "informer-outage");
    const { logger, lines } = capturingLogger();
    const manager = await startManager({
      kubeConfig: controlPlane.kubeConfig,
      namespace: ns,
      workers: 1,
      metricsPort: 0,
      logger,
      identity: "informer-outage",
    });
    const base = `http://127.0.0.1:${manager.port}`;
    const readyz = async () => {
      const res = await fetch(`${base}/readyz`);
      return { status: res.status, body: await res.text() };
    };
    const metrics = async () => (await fetch(`${base}/metrics`)).text();
    const core4 = [
      "rollouts.fledge.dev",
      "deployments.apps",
      "services",
      "horizontalpodautoscalers.autoscaling",
    ];
    let stopped = false;
    try {
      expect(await readyz()).toEqual({ status: 200, body: "ok" });
      expect(await metrics()).toContain('fledge_informer_synced{resource="rollouts.fledge.dev"} 1');

      // The watches fail as soon as it begins to shut down, which may take a second or two.
      const down = performance.now();
      await controlPlane.stopApiserver();
      stopped = true;
      // Under the threshold, a short outage (a restart) is not news.
      await sleep(5_000);
      expect((await readyz()).status).toBe(200);
      expect(countsByResource(lines, CANNOT_RESYNC)).toEqual({});

      let failing = { status: 0, body: "" };
      for (; failing.status !== 503 && performance.now() - down < 20_000; await sleep(200))
        failing = await readyz();
      const noticed = performance.now() - down;
      expect(failing.status).toBe(503);
      expect(noticed).toBeGreaterThanOrEqual(9_900);
      // Each informer's run began when its own watch broke, a moment apart from the others'.
      const named = (body: string) =>
        core4.every((r) =>
          new RegExp(`^${r.replace(/\./g, "\\.")}: unreachable for \\d+ s: `, "m").test(body),
        );
      for (; !named(failing.body) && performance.now() - down < 25_000; await sleep(200))
        failing = await readyz();
      expect(failing.body).toMatch(/^informers failing to list and watch:\n/);
      expect(named(failing.body), failing.body).toBe(true);

      // Retries go on, but the warning is said once per informer, not once per retry.
      await sleep(3_000);
      const warned = countsByResource(lines, CANNOT_RESYNC);
      expect(
        Object.values(warned).every((n) => n === 1),
        JSON.stringify(warned),
      ).toBe(true);
      for (const resource of core4) expect(warned[resource], resource).toBe(1);
      const warning = lines.find((l) => l.msg === CANNOT_RESYNC && l.level === WARN);
      expect(warning).toMatchObject({ kind: "unreachable", failingForMs: expect.any(Number) });
      expect(warning?.failingForMs as number).toBeGreaterThanOrEqual(9_900);

      const text = await metrics();
      expect(text).toContain('fledge_informer_synced{resource="rollouts.fledge.dev"} 0');
      const seconds = Number(
        /^fledge_informer_failing_seconds\{resource="rollouts.fledge.dev"\} ([\d.]+)$/m.exec(
          text,
        )?.[1],
      );
      expect(seconds).toBeGreaterThanOrEqual(10);
      const failures = Number(
        /^fledge_informer_failures_total\{resource="rollouts.fledge.dev",reason="unreachable"\} (\d+)$/m.exec(
          text,
        )?.[1],
      );
      // Quick retries while it is away (at most a second apart), so it is noticed when it is back.
      expect(failures).toBeGreaterThanOrEqual(8);

      const back = await controlPlane.startApiserver();
      stopped = false;
      let ready = { status: 0, body: "" };
      for (; ready.status !== 200 && Date.now() - back < 10_000; await sleep(100))
        ready = await readyz();
      expect(ready).toEqual({ status: 200, body: "ok" });
      console.info(`informer: /readyz ok ${Date.now() - back} ms after kube-apiserver's`);
      const recovered = countsByResource(lines, RECOVERED);
      expect(recovered).toEqual(warned);
      expect(lines.find((l) => l.msg === RECOVERED)).toMatchObject({
        outageMs: expect.any(Number),
        failures: expect.any(Number),
      });
      const after = await metrics();
      for (const resource of core4) {
        expect(after).toContain(`fledge_informer_synced{resource="${resource}"} 1`);
        expect(after).toContain(`fledge_informer_failing_seconds{resource="${resource}"} 0`);
      }
    } finally {
      if (stopped) await controlPlane.startApiserver();
      await manager.stop();
    }
  }, 90_000);
});

/** Writes right after a restart may meet an apiserver still warming up; retry them briefly. */
async function eventuallyWrites<T>(write: () => Promise<T>): Promise<T> {
  const deadline = performance.now() + 20_000;
  for (;;) {
    try {
      return await write();
    } catch (error) {
      if (performance.now() > deadline) throw error;
      await sleep(50);
    }
  }
}

/**
 * kube-apiserver's answer to a watch from a resourceVersion its watch cache has not reached
 * (storage.NewTooLargeResourceVersionError): a loaded apiserver's cache falls behind etcd, which
 * the harness's cannot be made to do on demand, so a stand-in on the loopback answers instead.
 */
const TOO_LARGE = {
  type: "ERROR",
  object: {
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    message: "Timeout: Too large resource version: 101, current: 90",
    reason: "Timeout",
    details: {
      causes: [{ reason: "ResourceVersionTooLarge", message: "Too large resource version" }],
      retryAfterSeconds: 1,
    },
    code: 504,
  },
};

/** A ConfigMap collection whose watches fail as a lagging watch cache's do, the first few times. */
const lagging = {
  requests: [] as { watch: boolean; resourceVersion: string | null; at: number }[],
  failWatches: 0,
  version: 100,
};
const stand = loopbackServer((req, res) => {
  const url = new URL(req.url ?? "/", "http://x");
  const watch = url.searchParams.get("watch") === "true";
  lagging.requests.push({
    watch,
    resourceVersion: url.searchParams.get("resourceVersion"),
    at: performance.now(),
  });
  const cm = (name: string, rv: number) => ({
    metadata: { name, namespace: "lag", resourceVersion: String(rv) },
    data: { color: "blue" },
  });
  res.writeHead(200, { "content-type": "application/json" });
  if (!watch) {
    lagging.version += 1;
    return res.end(
      JSON.stringify({
        kind: "ConfigMapList",
        metadata: { resourceVersion: String(lagging.version) },
        items: [cm("a", 1)],
      }),
    );
  }
  if (lagging.failWatches > 0) {
    lagging.failWatches -= 1;
    return res.end(`${JSON.stringify(TOO_LARGE)}\n`);
  }
  // Caught up: the watch works, brings one object and stays open.
  res.write(`${JSON.stringify({ type: "ADDED", object: cm("b", lagging.version + 1) })}\n`);
});

test("a watch cache behind the list: relists without a resourceVersion, backs off growing, warns once, says when it recovered", async () => {
  const plain: ApiAccess = {
    getCurrentCluster: () => ({ server: `http://127.0.0.1:${stand.port}` }),
    applyToHTTPSOptions: async (options) => {
      options.agent = new http.Agent();
    },
  };
  lagging.requests = [];
  lagging.failWatches = 7;
  const { logger, lines } = capturingLogger();
  const informer = createInformer({
    kubeConfig: plain,
    path: "/api/v1/namespaces/lag/configmaps",
    transform: toColor,
    logger,
    failingAfterMs: 2_000,
  });
  const events = record(informer);
  await informer.start();
  try {
    await until("the working watch", () => events.includes("ADDED b blue"), 30_000);
    await sleep(1_200);
    expect(events).toEqual(["ADDED a blue", "ADDED b blue"]);
    const { requests } = lagging;
    // Each failed watch is followed by a list, never by a watch from the same version, and no
    // list asks for a version: it is read consistently.
    expect(requests.map((r) => (r.watch ? "watch" : "list"))).toEqual(
      Array.from({ length: 8 }, () => ["list", "watch"]).flat(),
    );
    expect(requests.filter((r) => !r.watch).every((r) => r.resourceVersion === null)).toBe(true);
    const watches = requests.filter((r) => r.watch).map((r) => r.resourceVersion);
    expect(watches).toEqual(Array.from({ length: 8 }, (_, i) => String(101 + i)));
    // The wait before each relist grows (jittered within [half, whole] of a doubling ceiling).
    const waits = requests
      .map((r, i) => (r.watch ? undefined : i > 0 ? r.at - (requests[i - 1]?.at ?? 0) : undefined))
      .filter((w): w is number => w !== undefined);
    expect(waits).toHaveLength(7);
    expect(waits[0]).toBeLessThan(300);
    expect(waits[6]).toBeGreaterThanOrEqual(6_400 / 2 - 50);
    expect(waits.slice(-3).reduce((a, b) => a + b)).toBeGreaterThan(
      waits.slice(0, 3).reduce((a, b) => a + b) * 4,
    );

    const warnings = lines.filter((l) => l.msg === CANNOT_RESYNC);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({
      level: WARN,
      path: "/api/v1/namespaces/lag/configmaps",
      kind: "too-large-resource-version",
      reason: expect.stringContaining("Too large resource version"),
    });
    expect((warnings[0]?.failingForMs as number) >= 2_000).toBe(true);
    const recovered = lines.filter((l) => l.msg === RECOVERED);
    expect(recovered).toHaveLength(1);
    expect(recovered[0]).toMatchObject({ failures: 7 });
    expect(informer.health).toMatchObject({
      synced: true,
      failing: false,
      failingSince: undefined,
    });
    expect(informer.health.totals["too-large-resource-version"]).toBe(7);
    // Of the rest, one line at info for the run's first failure, debug for the others.
    expect(
      lines.filter((l) => l.msg === "watch cache behind; relisting").map((l) => l.level),
    ).toEqual([30, 20, 20, 20, 20, 20, 20]);
  } finally {
    await informer.stop();
  }
}, 60_000);
