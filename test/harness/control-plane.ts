import { generateKeyPairSync, randomBytes } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { request } from "node:https";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import {
  ApiextensionsV1Api,
  CoreV1Api,
  KubeConfig,
  loadAllYaml,
  type V1Status as Status,
  type V1CustomResourceDefinition,
} from "@kubernetes/client-node";
import { stringify } from "yaml";
import { ensureBinaries } from "./binaries.ts";
import { type FakeKubelet, type KubeletLag, startFakeKubelet } from "./fake-kubelet.ts";
import { Component, guardDir, log, onTermination } from "./process.ts";

export interface ControlPlaneOptions {
  /** When set, kube-apiserver writes an audit log (level Metadata, JSON lines) to this path. */
  auditLog?: string;
  /** Extra kube-controller-manager flags, e.g. --kube-api-qps for the benchmark. */
  controllerManagerFlags?: string[];
  /** Extra kube-apiserver flags. */
  apiserverFlags?: string[];
  /** Directories whose *.yaml CustomResourceDefinitions are installed; default: crds/. */
  crdDirs?: string[];
  /** Files of CustomResourceDefinitions installed after crdDirs' (e.g. one of crds/ alone). */
  crdFiles?: string[];
}

export interface ControlPlane {
  /** https://127.0.0.1:PORT */
  url: string;
  /** A kubeconfig file with the admin identity (system:masters), CA data embedded. */
  kubeconfigPath: string;
  kubeConfig: KubeConfig;
  /** The per-run temp dir: data, certificates, keys and component logs. */
  dir: string;
  /**
   * kube-apiserver's self-signed serving certificate and key (PEM), for the harness's own HTTPS
   * servers that the apiserver calls without verifying them (an aggregated API).
   */
  servingCertificate: { cert: string; key: string };
  /** A token for the ServiceAccount from the TokenRequest API; the account must exist. */
  tokenFor(namespace: string, serviceAccount: string): Promise<string>;
  /** Writes a kubeconfig that authenticates with tokenFor()'s token; returns its path. */
  kubeconfigFor(namespace: string, serviceAccount: string): Promise<string>;
  /** Stops kube-apiserver and starts it again on the same port against the same etcd. */
  restartApiserver(): Promise<void>;
  /** Stops kube-apiserver alone (etcd and the controllers stay up), for an outage of a test's length. */
  stopApiserver(): Promise<void>;
  /** Starts the stopped kube-apiserver again; resolves with the Date.now() of its first 200 from /readyz. */
  startApiserver(): Promise<number>;
  /** The fake kubelet's own lag (pods made Ready, its queue's peak), for the benchmark. */
  kubeletLag(): KubeletLag;
  stop(): Promise<void>;
}

export const ADMIN_USER = "fledge-admin";
export const FAKE_KUBELET_USER = "fledge-fake-kubelet";
const repoRoot = fileURLToPath(new URL("../../", import.meta.url));
/** Fledge's own CRDs (crds/), which startControlPlane installs unless told other crdDirs. */
export const FLEDGE_CRD_DIR = join(repoRoot, "crds");
const CONTROLLERS = [
  "deployment-controller",
  "replicaset-controller",
  "serviceaccount-controller",
  "namespace-controller",
  // Builds the aggregated ClusterRoles (admin, edit, view) that RoleBindings refer to.
  "clusterrole-aggregation-controller",
  "garbage-collector-controller",
  "endpointslice-controller",
  // Scales autoscaled Deployments from the resource metrics API, when a tier serves one
  // (test/harness/metrics-api.ts); with no HorizontalPodAutoscaler it has nothing to do.
  "horizontal-pod-autoscaler-controller",
];
const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
`;

export async function freePorts(count: number): Promise<number[]> {
  // All listeners stay open until every port is known, so the ports are distinct.
  const servers = await Promise.all(
    Array.from({ length: count }, async () => {
      const server = createServer();
      await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
      return server;
    }),
  );
  const ports = servers.map((server) => (server.address() as { port: number }).port);
  await Promise.all(servers.map((server) => new Promise((resolve) => server.close(resolve))));
  return ports;
}

async function waitFor(
  what: string,
  timeoutMs: number,
  component: Component,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    component.assertRunning();
    if (await probe().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

function httpsStatus(url: string, ca: string, token: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { authorization: `Bearer ${token}` } }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", reject);
    req.setTimeout(2000, () => req.destroy(new Error("timeout")));
    req.end();
  });
}

export function kubeconfigYaml(url: string, caPem: string, user: string, token: string): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "fledge",
        cluster: {
          server: url,
          "certificate-authority-data": Buffer.from(caPem).toString("base64"),
        },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: "fledge", context: { cluster: "fledge", user } }],
    "current-context": "fledge",
  });
}

/** A TokenRequest for the ServiceAccount, made with `admin`; valid for a day. */
export async function serviceAccountToken(
  admin: KubeConfig,
  namespace: string,
  serviceAccount: string,
): Promise<string> {
  const response = await admin.makeApiClient(CoreV1Api).createNamespacedServiceAccountToken({
    name: serviceAccount,
    namespace,
    body: { spec: { audiences: [], expirationSeconds: 86400 } },
  });
  const token = response.status?.token;
  if (!token) throw new Error(`no token for ${namespace}/${serviceAccount}`);
  return token;
}

/** The same cluster as `admin`, authenticated as the ServiceAccount. */
export async function serviceAccountKubeConfig(
  admin: KubeConfig,
  namespace: string,
  serviceAccount: string,
): Promise<KubeConfig> {
  const cluster = admin.getCurrentCluster();
  if (!cluster?.caData) throw new Error("admin kubeconfig has no cluster with CA data");
  const token = await serviceAccountToken(admin, namespace, serviceAccount);
  const kubeConfig = new KubeConfig();
  kubeConfig.loadFromString(
    kubeconfigYaml(
      cluster.server,
      Buffer.from(cluster.caData, "base64").toString(),
      `system:serviceaccount:${namespace}:${serviceAccount}`,
      token,
    ),
  );
  return kubeConfig;
}

interface CrdFile {
  crd: V1CustomResourceDefinition;
  file: string;
}

async function crdsIn(dirs: string[], files: string[]): Promise<CrdFile[]> {
  const paths: string[] = [];
  for (const dir of dirs) {
    const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
      if (error.code === "ENOENT") return [];
      throw error;
    });
    paths.push(
      ...names
        .filter((f) => f.endsWith(".yaml"))
        .sort()
        .map((f) => join(dir, f)),
    );
  }
  const crds: CrdFile[] = [];
  for (const file of [...paths, ...files]) {
    // client-node's loader, not a plain YAML parse: its serializer only knows the models'
    // property names and would silently drop keys like x-kubernetes-int-or-string.
    for (const object of loadAllYaml(await readFile(file, "utf8"))) {
      if (object?.kind === "CustomResourceDefinition") {
        crds.push({ crd: object as V1CustomResourceDefinition, file });
      }
    }
  }
  return crds;
}

const isConflict = (error: unknown) => (error as { code?: number }).code === 409;

/**
 * Creates the CRD, or replaces the one already there. The apiserver's own controllers write a
 * new CRD's status (NamesAccepted, Established) moments after it is made, so a replace can lose
 * the race for the resourceVersion it read: then it reads again and retries.
 */
async function createOrReplaceCrd(api: ApiextensionsV1Api, crd: V1CustomResourceDefinition) {
  const name = crd.metadata?.name ?? "";
  try {
    await api.createCustomResourceDefinition({ body: crd });
    return;
  } catch (error) {
    if (!isConflict(error)) throw error;
  }
  for (let attempt = 1; ; attempt++) {
    const existing = await api.readCustomResourceDefinition({ name });
    const body = {
      ...crd,
      metadata: { ...crd.metadata, resourceVersion: existing.metadata?.resourceVersion },
    };
    try {
      await api.replaceCustomResourceDefinition({ name, body });
      return;
    } catch (error) {
      if (!isConflict(error) || attempt === 10) throw error;
    }
  }
}

async function installCrds(
  kubeConfig: KubeConfig,
  dirs: string[],
  files: string[],
): Promise<number> {
  const api = kubeConfig.makeApiClient(ApiextensionsV1Api);
  const crds = await crdsIn(dirs, files);
  for (const { crd, file } of crds) {
    const name = crd.metadata?.name ?? "";
    try {
      await createOrReplaceCrd(api, crd);
    } catch (error) {
      const body = (error as { body?: unknown }).body;
      const message = typeof body === "string" ? (JSON.parse(body) as Status).message : error;
      throw new Error(`CRD ${name} from ${file} was refused: ${message}`);
    }
  }
  for (const { crd } of crds) {
    const name = crd.metadata?.name ?? "";
    const deadline = Date.now() + 30_000;
    for (;;) {
      const current = await api.readCustomResourceDefinition({ name });
      const established = current.status?.conditions?.some(
        (c) => c.type === "Established" && c.status === "True",
      );
      if (established) break;
      if (Date.now() > deadline) throw new Error(`CRD ${name} not Established after 30s`);
      await sleep(50);
    }
  }
  return crds.length;
}

/**
 * Starts etcd, kube-apiserver (RBAC on), kube-controller-manager and the fake kubelet on
 * loopback, with a fresh temp dir, and installs the CRDs. Everything is stopped and removed by
 * stop(), on SIGINT/SIGTERM/SIGHUP, and at process exit.
 */
export async function startControlPlane(options: ControlPlaneOptions = {}): Promise<ControlPlane> {
  const binaries = await ensureBinaries();
  const started = Date.now();
  const dir = mkdtempSync(join(tmpdir(), "fledge-cp-"));
  const dirGuard = guardDir(dir);
  const components: Component[] = [];
  let fakeKubelet: FakeKubelet | undefined;
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      unregister();
      // Bounded: a request to a hung kube-apiserver must not keep the rest running.
      await Promise.race([fakeKubelet?.stop().catch(() => {}), sleep(5000)]);
      // Reverse start order: controllers first, etcd last, so none logs a storm of errors.
      for (const component of [...components].reverse()) await component.stop();
      dirGuard.release();
    })();
    return stopping;
  };
  const unregister = onTermination({
    sync() {
      for (const component of components) component.killSync();
      dirGuard.release();
    },
    async: stop,
  });

  try {
    const [etcdPort, peerPort, apiPort] = (await freePorts(3)) as [number, number, number];
    const url = `https://127.0.0.1:${apiPort}`;
    const certDir = join(dir, "apiserver-certs");
    await mkdir(certDir);

    // Static tokens, one user per component, so that an audit log tells them apart.
    const token = () => randomBytes(24).toString("hex");
    const identities = {
      admin: { user: ADMIN_USER, token: token(), groups: "system:masters" },
      controllerManager: { user: "system:kube-controller-manager", token: token(), groups: "" },
      fakeKubelet: { user: FAKE_KUBELET_USER, token: token(), groups: "system:masters" },
    };
    const tokenFile = join(dir, "tokens.csv");
    await writeFile(
      tokenFile,
      Object.values(identities)
        .map(({ user, token, groups }) => `${token},${user},${user},"${groups}"\n`)
        .join(""),
    );
    const adminToken = identities.admin.token;
    const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
    const saKey = join(dir, "sa.key");
    const saPub = join(dir, "sa.pub");
    await writeFile(saKey, privateKey.export({ type: "pkcs8", format: "pem" }));
    await writeFile(saPub, publicKey.export({ type: "spki", format: "pem" }));

    const etcdUrl = `http://127.0.0.1:${etcdPort}`;
    const peerUrl = `http://127.0.0.1:${peerPort}`;
    const etcd = new Component(
      "etcd",
      binaries.etcd,
      [
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdUrl}`,
        `--advertise-client-urls=${etcdUrl}`,
        `--listen-peer-urls=${peerUrl}`,
        `--initial-advertise-peer-urls=${peerUrl}`,
        `--initial-cluster=default=${peerUrl}`,
        // A throwaway cluster: durability is not wanted, speed is.
        "--unsafe-no-fsync",
        "--heartbeat-interval=10",
        "--election-timeout=50",
        "--log-level=warn",
      ],
      join(dir, "etcd.log"),
    );
    components.push(etcd);
    etcd.start();
    await waitFor("etcd", 20_000, etcd, async () => {
      const response = await fetch(`${etcdUrl}/health`);
      return response.ok && ((await response.json()) as { health?: string }).health === "true";
    });
    const etcdReady = Date.now();

    const apiserverArgs = [
      `--etcd-servers=${etcdUrl}`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--cert-dir=${certDir}`,
      // Without it kube-apiserver tries to reconcile the kubernetes Service's endpoints to the
      // loopback address, which is invalid, and exits.
      "--endpoint-reconciler-type=none",
      "--authorization-mode=Node,RBAC",
      `--token-auth-file=${tokenFile}`,
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${saPub}`,
      `--service-account-signing-key-file=${saKey}`,
      // Loopback ClusterIPs, so a simulator can listen on a Service's address.
      "--service-cluster-ip-range=127.100.0.0/16",
      "--allow-privileged=true",
      // Else kube-apiserver's shutdown waits on open watches until it is killed, which makes
      // restartApiserver() slow and ungraceful.
      "--shutdown-watch-termination-grace-period=2s",
      ...(options.auditLog
        ? [
            `--audit-policy-file=${join(dir, "audit-policy.yaml")}`,
            `--audit-log-path=${options.auditLog}`,
            "--audit-log-format=json",
            "--audit-log-maxsize=0",
          ]
        : []),
      ...(options.apiserverFlags ?? []),
    ];
    if (options.auditLog) await writeFile(join(dir, "audit-policy.yaml"), AUDIT_POLICY);
    const apiserver = new Component(
      "kube-apiserver",
      binaries.kubeApiserver,
      apiserverArgs,
      join(dir, "kube-apiserver.log"),
    );
    components.push(apiserver);

    let caPem = "";
    const startApiserver = async () => {
      apiserver.start();
      await waitFor("kube-apiserver /readyz", 60_000, apiserver, async () => {
        // The serving certificate appears in --cert-dir shortly after start; it is self-signed
        // for 127.0.0.1 (not "localhost") and serves as the kubeconfig's CA.
        caPem ||= await readFile(join(certDir, "apiserver.crt"), "utf8");
        return (await httpsStatus(`${url}/readyz`, caPem, adminToken)) === 200;
      });
    };
    await startApiserver();
    const apiserverReady = Date.now();

    const kubeconfigPath = join(dir, "admin.kubeconfig");
    const adminYaml = kubeconfigYaml(url, caPem, ADMIN_USER, adminToken);
    await writeFile(kubeconfigPath, adminYaml);
    const kubeConfig = new KubeConfig();
    kubeConfig.loadFromString(adminYaml);
    const controllerManagerKubeconfig = join(dir, "kube-controller-manager.kubeconfig");
    const { controllerManager: kcm, fakeKubelet: kubelet } = identities;
    await writeFile(controllerManagerKubeconfig, kubeconfigYaml(url, caPem, kcm.user, kcm.token));
    const fakeKubeletConfig = new KubeConfig();
    fakeKubeletConfig.loadFromString(kubeconfigYaml(url, caPem, kubelet.user, kubelet.token));

    const controllerManager = new Component(
      "kube-controller-manager",
      binaries.kubeControllerManager,
      [
        `--kubeconfig=${controllerManagerKubeconfig}`,
        // As in kubeadm clusters: each controller acts as its own ServiceAccount in kube-system,
        // under the bootstrap RBAC roles, and shows up under its own name in audit logs.
        "--use-service-account-credentials=true",
        "--leader-elect=false",
        "--secure-port=0",
        `--controllers=${CONTROLLERS.join(",")}`,
        // Every second rather than every 15: a test sees a scale-up within seconds.
        "--horizontal-pod-autoscaler-sync-period=1s",
        `--service-account-private-key-file=${saKey}`,
        `--root-ca-file=${join(certDir, "apiserver.crt")}`,
        ...(options.controllerManagerFlags ?? []),
      ],
      join(dir, "kube-controller-manager.log"),
    );
    components.push(controllerManager);
    controllerManager.start();

    fakeKubelet = await startFakeKubelet(fakeKubeletConfig);
    const crdCount = await installCrds(
      kubeConfig,
      options.crdDirs ?? [FLEDGE_CRD_DIR],
      options.crdFiles ?? [],
    );

    // The default ServiceAccount appearing proves the controllers run; until it exists, pod
    // creation in that namespace is refused by admission.
    const core = kubeConfig.makeApiClient(CoreV1Api);
    await waitFor("kube-controller-manager", 60_000, controllerManager, async () => {
      await core.readNamespacedServiceAccount({ name: "default", namespace: "default" });
      return true;
    });

    const seconds = (ms: number) => `${(ms / 1000).toFixed(1)}s`;
    log(
      `control plane up at ${url} in ${seconds(Date.now() - started)} ` +
        `(etcd ${seconds(etcdReady - started)}, kube-apiserver ${seconds(apiserverReady - etcdReady)}, ` +
        `controllers ${seconds(Date.now() - apiserverReady)}, ${crdCount} CRDs); logs in ${dir}`,
    );

    return {
      url,
      kubeconfigPath,
      kubeConfig,
      dir,
      servingCertificate: {
        cert: caPem,
        key: await readFile(join(certDir, "apiserver.key"), "utf8"),
      },
      tokenFor: (namespace, serviceAccount) =>
        serviceAccountToken(kubeConfig, namespace, serviceAccount),
      async kubeconfigFor(namespace, serviceAccount) {
        const token = await serviceAccountToken(kubeConfig, namespace, serviceAccount);
        const path = join(dir, `${namespace}.${serviceAccount}.kubeconfig`);
        const user = `system:serviceaccount:${namespace}:${serviceAccount}`;
        await writeFile(path, kubeconfigYaml(url, caPem, user, token));
        return path;
      },
      async restartApiserver() {
        const begun = Date.now();
        await apiserver.stop();
        await startApiserver();
        log(`kube-apiserver restarted in ${seconds(Date.now() - begun)}`);
      },
      stopApiserver: () => apiserver.stop(),
      async startApiserver() {
        await startApiserver();
        return Date.now();
      },
      kubeletLag: () => (fakeKubelet as FakeKubelet).lag(),
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
