import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AppsV1Api,
  AuthenticationV1Api,
  CoreV1Api,
  DiscoveryV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
  type V1ConfigMap,
  type V1Deployment,
  type V1Status,
  Watch,
} from "@kubernetes/client-node";
import { describe, expect, inject, test } from "vitest";
import {
  ADMIN_USER,
  type ControlPlane,
  FAKE_KUBELET_USER,
  serviceAccountKubeConfig,
  startControlPlane,
} from "../harness/control-plane.ts";
import { UNREADY_ANNOTATION } from "../harness/fake-kubelet.ts";
import { eventually, repoRoot } from "./support/cluster.ts";

const admin = new KubeConfig();
admin.loadFromFile(inject("kubeconfig"));
const core = admin.makeApiClient(CoreV1Api);
const apps = admin.makeApiClient(AppsV1Api);

async function namespace(prefix: string, kubeConfig = admin): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await kubeConfig.makeApiClient(CoreV1Api).createNamespace({ body: { metadata: { name } } });
  return name;
}

function deployment(name: string, replicas: number, annotations = {}): V1Deployment {
  const labels = { app: name };
  return {
    metadata: { name },
    spec: {
      replicas,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels, annotations },
        spec: { containers: [{ name: "app", image: "example.invalid/app:1" }] },
      },
    },
  };
}

function code(error: unknown): number | undefined {
  return (error as { code?: number }).code;
}

async function available(api: AppsV1Api, namespace: string, name: string): Promise<V1Deployment> {
  return eventually(`deployment ${namespace}/${name} available`, async () => {
    const current = await api.readNamespacedDeployment({ name, namespace });
    return current.status?.availableReplicas === current.spec?.replicas ? current : undefined;
  });
}

describe("control plane harness", () => {
  test("a Deployment becomes Available through the replicaset controller and fake kubelet", async () => {
    const ns = await namespace("available");
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment("web", 2) });
    const ready = await available(apps, ns, "web");
    expect(ready.status?.availableReplicas).toBe(2);
    const pods = await core.listNamespacedPod({ namespace: ns });
    expect(pods.items).toHaveLength(2);
    for (const pod of pods.items) {
      expect(pod.status?.phase).toBe("Running");
      expect(pod.spec?.nodeName).toBe("fake-node");
      expect(pod.status?.podIP).toMatch(/^10\.244\./);
    }
  });

  test("pods annotated unready hold a Deployment unavailable past its progress deadline", async () => {
    const ns = await namespace("unready");
    const body = deployment("stuck", 2, { [UNREADY_ANNOTATION]: "true" });
    if (body.spec) body.spec.progressDeadlineSeconds = 2;
    await apps.createNamespacedDeployment({ namespace: ns, body });
    const condition = await eventually("ProgressDeadlineExceeded", async () => {
      const current = await apps.readNamespacedDeployment({ name: "stuck", namespace: ns });
      return current.status?.conditions?.find(
        (c) => c.type === "Progressing" && c.reason === "ProgressDeadlineExceeded",
      );
    });
    expect(condition.status).toBe("False");
    const current = await apps.readNamespacedDeployment({ name: "stuck", namespace: ns });
    expect(current.status?.availableReplicas ?? 0).toBe(0);
    const pods = await core.listNamespacedPod({ namespace: ns });
    expect(pods.items.map((pod) => pod.status?.phase)).toEqual(["Pending", "Pending"]);
  });

  test("a Service gets a loopback ClusterIP and an EndpointSlice of its ready pods", async () => {
    const ns = await namespace("service");
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment("web", 2) });
    const service = await core.createNamespacedService({
      namespace: ns,
      body: {
        metadata: { name: "web" },
        spec: { selector: { app: "web" }, ports: [{ port: 80, targetPort: 8080 }] },
      },
    });
    expect(service.spec?.clusterIP).toMatch(/^127\.100\./);
    await available(apps, ns, "web");
    const discovery = admin.makeApiClient(DiscoveryV1Api);
    const addresses = await eventually("EndpointSlice with 2 ready endpoints", async () => {
      const slices = await discovery.listNamespacedEndpointSlice({
        namespace: ns,
        labelSelector: "kubernetes.io/service-name=web",
      });
      const ready = slices.items
        .flatMap((slice) => slice.endpoints ?? [])
        .filter((endpoint) => endpoint.conditions?.ready);
      return ready.length === 2 ? ready.flatMap((endpoint) => endpoint.addresses) : undefined;
    });
    const pods = await core.listNamespacedPod({ namespace: ns });
    expect(addresses.sort()).toEqual(pods.items.map((pod) => pod.status?.podIP).sort());
  });

  test("deleting a namespace completes, running pods included", async () => {
    const ns = await namespace("doomed");
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment("web", 2) });
    await available(apps, ns, "web");
    await core.deleteNamespace({ name: ns });
    await eventually("namespace gone", async () => {
      try {
        await core.readNamespace({ name: ns });
        return undefined;
      } catch (error) {
        return code(error) === 404 ? true : undefined;
      }
    });
  });

  test("deleting a Deployment cascades to its ReplicaSet and pods", async () => {
    const ns = await namespace("cascade");
    await apps.createNamespacedDeployment({ namespace: ns, body: deployment("web", 2) });
    await available(apps, ns, "web");
    expect((await apps.listNamespacedReplicaSet({ namespace: ns })).items).toHaveLength(1);
    await apps.deleteNamespacedDeployment({ name: "web", namespace: ns });
    await eventually("ReplicaSet and pods collected", async () => {
      const replicaSets = await apps.listNamespacedReplicaSet({ namespace: ns });
      const pods = await core.listNamespacedPod({ namespace: ns });
      return replicaSets.items.length === 0 && pods.items.length === 0 ? true : undefined;
    });
  });

  test("a ServiceAccount token authenticates, and RBAC denies until a RoleBinding allows", async () => {
    const ns = await namespace("rbac");
    await core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: "probe" } },
    });
    const probe = await serviceAccountKubeConfig(admin, ns, "probe");
    const review = await probe
      .makeApiClient(AuthenticationV1Api)
      .createSelfSubjectReview({ body: {} });
    expect(review.status?.userInfo?.username).toBe(`system:serviceaccount:${ns}:probe`);

    const probeCore = probe.makeApiClient(CoreV1Api);
    const denied = await probeCore.listNamespacedPod({ namespace: ns }).catch((e: unknown) => e);
    expect(code(denied)).toBe(403);

    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: "pod-reader" },
        rules: [{ apiGroups: [""], resources: ["pods"], verbs: ["list"] }],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: "probe-reads-pods" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "pod-reader" },
        subjects: [{ kind: "ServiceAccount", name: "probe", namespace: ns }],
      },
    });
    const allowed = await eventually("RoleBinding in effect", () =>
      probeCore.listNamespacedPod({ namespace: ns }),
    );
    expect(allowed.items).toEqual([]);
    const stillDenied = await probeCore.listNamespace().catch((e: unknown) => e);
    expect(code(stillDenied)).toBe(403);
  });

  test("auditLog records each request with its user, as JSON lines", async () => {
    const auditLog = join(tmpdir(), `fledge-audit-${randomBytes(3).toString("hex")}.log`);
    const controlPlane = await startControlPlane({ crdDirs: [], auditLog });
    try {
      const ownApps = controlPlane.kubeConfig.makeApiClient(AppsV1Api);
      const ns = await namespace("audit", controlPlane.kubeConfig);
      await ownApps.createNamespacedDeployment({ namespace: ns, body: deployment("web", 1) });
      await available(ownApps, ns, "web");
      const events = (await readFile(auditLog, "utf8"))
        .trim()
        .split("\n")
        .map((line) => JSON.parse(line) as { user: { username: string } });
      const users = new Set(events.map((event) => event.user.username));
      expect(users).toContain(ADMIN_USER);
      expect(users).toContain(FAKE_KUBELET_USER);
      expect(users).toContain("system:kube-controller-manager");
      expect(users).toContain("system:serviceaccount:kube-system:replicaset-controller");
    } finally {
      await controlPlane.stop();
      await rm(auditLog, { force: true });
    }
  });

  // Control planes of their own: restarting the tier's shared one would disturb other files.
  test("after restartApiserver() an old resourceVersion gets 410 Gone, and list+watch resumes", async () => {
    const controlPlane = await startControlPlane({ crdDirs: [] });
    try {
      const { watcher, ns, create } = await configMapWatcher(controlPlane);
      await create("before");
      await watcher.saw("before");
      const lastSeen = watcher.resourceVersion();

      await controlPlane.restartApiserver();
      await watcher.ended();
      await create("during");
      // The watch cache starts at etcd's current revision; kube-apiserver's own writes at
      // start-up put that past any revision a client saw before, as in a real cluster.
      const gone = await watcher.watch(lastSeen);
      expect(await watcher.ended()).toBe(410);
      expect(gone.seen).toEqual([]);

      const listed = await watcher.list();
      expect(listed.names).toEqual(["before", "during"]);
      await watcher.watch(listed.resourceVersion);
      await create("after");
      await watcher.saw("after");
      watcher.stop();

      // The fake kubelet and the controllers found their way back too.
      const ownApps = controlPlane.kubeConfig.makeApiClient(AppsV1Api);
      await ownApps.createNamespacedDeployment({ namespace: ns, body: deployment("web", 1) });
      await available(ownApps, ns, "web");
    } finally {
      await controlPlane.stop();
    }
  });

  test("without the watch cache, a watch resumes from its resourceVersion across a restart", async () => {
    const controlPlane = await startControlPlane({
      crdDirs: [],
      apiserverFlags: ["--watch-cache=false"],
    });
    try {
      const { watcher, create } = await configMapWatcher(controlPlane);
      await create("before");
      await watcher.saw("before");
      const lastSeen = watcher.resourceVersion();

      await controlPlane.restartApiserver();
      await watcher.ended();
      await create("during");
      const resumed = await watcher.watch(lastSeen);
      await watcher.saw("during");
      watcher.stop();
      expect(resumed.seen).toEqual(["during"]);
    } finally {
      await controlPlane.stop();
    }
  });
});

/**
 * Watches ConfigMaps in a new namespace as a ServiceAccount bound to the "view" ClusterRole,
 * through a kubeconfig from kubeconfigFor().
 */
async function configMapWatcher(controlPlane: ControlPlane) {
  const ownCore = controlPlane.kubeConfig.makeApiClient(CoreV1Api);
  const ns = await namespace("restart", controlPlane.kubeConfig);
  await ownCore.createNamespacedServiceAccount({
    namespace: ns,
    body: { metadata: { name: "watcher" } },
  });
  await controlPlane.kubeConfig.makeApiClient(RbacAuthorizationV1Api).createNamespacedRoleBinding({
    namespace: ns,
    body: {
      metadata: { name: "watcher-views" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
      subjects: [{ kind: "ServiceAccount", name: "watcher", namespace: ns }],
    },
  });
  const watcherConfig = new KubeConfig();
  watcherConfig.loadFromFile(await controlPlane.kubeconfigFor(ns, "watcher"));
  const watcherCore = watcherConfig.makeApiClient(CoreV1Api);

  let lastResourceVersion = "";
  let current: { seen: string[]; ended: Promise<number | undefined>; abort?: AbortController };
  const all: string[] = [];
  const watcher = {
    async list() {
      const list = await eventually("RoleBinding in effect", () =>
        watcherCore.listNamespacedConfigMap({ namespace: ns }),
      );
      return {
        names: list.items.map((item) => item.metadata?.name),
        resourceVersion: list.metadata?.resourceVersion ?? "",
      };
    },
    /** Starts watching from `resourceVersion`; `ended()` gives the ERROR code, if any. */
    async watch(resourceVersion: string) {
      const ended = Promise.withResolvers<number | undefined>();
      let errorCode: number | undefined;
      const seen: string[] = [];
      current = { seen, ended: ended.promise };
      current.abort = await new Watch(watcherConfig).watch(
        `/api/v1/namespaces/${ns}/configmaps`,
        { resourceVersion },
        (type, object: V1ConfigMap & V1Status) => {
          if (type === "ERROR") {
            errorCode = object.code;
            return;
          }
          lastResourceVersion = object.metadata?.resourceVersion ?? lastResourceVersion;
          if (type === "ADDED") {
            seen.push(object.metadata?.name ?? "");
            all.push(object.metadata?.name ?? "");
          }
        },
        () => ended.resolve(errorCode),
      );
      return current;
    },
    ended: () => current.ended,
    saw: (name: string) =>
      eventually(`ADDED ${name}`, async () => (all.includes(name) ? true : undefined)),
    resourceVersion: () => lastResourceVersion,
    stop: () => current.abort?.abort(),
  };
  await watcher.watch((await watcher.list()).resourceVersion);
  const create = (name: string) =>
    ownCore.createNamespacedConfigMap({ namespace: ns, body: { metadata: { name } } });
  return { watcher, ns, create };
}

describe("npm run cluster", () => {
  /** Starts `npm run cluster` and waits for its control plane; returns npm's process and the log dir. */
  async function cluster(): Promise<{ npm: ChildProcess; dir: string; output: () => string }> {
    const kubeconfig = join(tmpdir(), `fledge-cluster-${randomBytes(3).toString("hex")}`);
    const npm = spawn("npm", ["run", "cluster", "--", "--kubeconfig", kubeconfig], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    npm.stdout?.on("data", (b) => (output += b));
    npm.stderr?.on("data", (b) => (output += b));
    const dir = await eventually(
      "the control plane up",
      () => (output.includes("export KUBECONFIG=") ? /logs in (\S+)/.exec(output)?.[1] : undefined),
      120_000,
    );
    return { npm, dir, output: () => output };
  }

  // The control plane removes its directory last, once every component has stopped.
  const gone = (dir: string) =>
    eventually(`${dir} removed`, () => (existsSync(dir) ? undefined : true), 30_000);

  test.each(["SIGINT", "SIGTERM"] as const)(
    "%s to npm stops the control plane it started",
    async (signal) => {
      const { npm, dir } = await cluster();
      npm.kill(signal);
      await gone(dir);
    },
    180_000,
  );

  test("npm killed outright still stops the control plane", async () => {
    const { npm, dir } = await cluster();
    npm.kill("SIGKILL");
    await gone(dir);
  }, 180_000);
});
