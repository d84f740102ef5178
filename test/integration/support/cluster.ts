import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { KubeConfig } from "@kubernetes/client-node";
import { inject } from "vitest";
import { parseAllDocuments } from "yaml";
import { KubeClient } from "../../../src/kube/client.ts";

export const repoRoot = join(import.meta.dirname, "../../..");

export function adminKubeConfig(): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromFile(inject("kubeconfig"));
  return kc;
}

export const adminClient = () => KubeClient.fromKubeConfig(adminKubeConfig());

/** Unwraps a result the test cannot go on without. */
export function ok<T>(
  result: { ok: true; value: T } | { ok: false; error: { reason: string; message: string } },
  what: string,
): T {
  if (!result.ok) throw new Error(`${what}: ${result.error.reason}: ${result.error.message}`);
  return result.value;
}

export async function newNamespace(client: KubeClient, prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  ok(
    await client.create("/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name },
    }),
    "namespace",
  );
  return name;
}

export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ""}`,
      );
    await sleep(100);
  }
}

const PATHS: Record<string, (ns?: string) => string> = {
  Namespace: () => "/api/v1/namespaces",
  ServiceAccount: (ns) => `/api/v1/namespaces/${ns}/serviceaccounts`,
  ClusterRole: () => "/apis/rbac.authorization.k8s.io/v1/clusterroles",
  ClusterRoleBinding: () => "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
  Role: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`,
  RoleBinding: (ns) => `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`,
  FlowSchema: () => "/apis/flowcontrol.apiserver.k8s.io/v1/flowschemas",
};

/** Server-side applies the documents of a file from deploy/ (the kinds the install manifests use). */
export async function applyFile(client: KubeClient, relative: string): Promise<void> {
  for (const doc of parseAllDocuments(readFileSync(join(repoRoot, relative), "utf8"))) {
    const obj = doc.toJS() as { kind: string; metadata: { name: string; namespace?: string } };
    const path = PATHS[obj.kind];
    if (!path) throw new Error(`applyFile: no path for kind ${obj.kind}`);
    ok(
      await client.patch(`${path(obj.metadata.namespace)}/${obj.metadata.name}`, obj, "apply"),
      `apply ${obj.kind} ${obj.metadata.name}`,
    );
  }
}

export function deploymentManifest(
  namespace: string,
  name: string,
  replicas = 1,
  podAnnotations: Record<string, string> = {},
) {
  return {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name, namespace, labels: { app: name } },
    spec: {
      replicas,
      selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name }, annotations: podAnnotations },
        spec: {
          containers: [
            {
              name: "app",
              image: "ghcr.io/stefanprodan/podinfo:6.7.0",
              ports: [{ name: "http", containerPort: 9898 }],
            },
          ],
        },
      },
    },
  };
}

export function rolloutManifest(namespace: string, name: string, spec: Record<string, unknown>) {
  return {
    apiVersion: "fledge.dev/v1alpha1",
    kind: "Rollout",
    metadata: { name, namespace },
    spec,
  };
}

/**
 * One app of the benchmark's kind: a 1-replica Deployment and a Rollout of `steps` over it,
 * serving port 80 from the pods' 9898.
 */
export async function createApp(
  client: KubeClient,
  namespace: string,
  name: string,
  steps: Record<string, unknown>[],
): Promise<void> {
  ok(
    await client.create(paths.deployments(namespace), deploymentManifest(namespace, name, 1)),
    `deployment ${name}`,
  );
  ok(
    await client.create(
      paths.rollouts(namespace),
      rolloutManifest(namespace, name, {
        targetRef: { name },
        service: { port: 80, targetPort: 9898 },
        steps,
      }),
    ),
    `rollout ${name}`,
  );
}

export const paths = {
  deployments: (ns: string) => `/apis/apps/v1/namespaces/${ns}/deployments`,
  rollouts: (ns: string) => `/apis/fledge.dev/v1alpha1/namespaces/${ns}/rollouts`,
  splits: (ns: string) => `/apis/split.smi-spec.io/v1alpha4/namespaces/${ns}/trafficsplits`,
  httpRoutes: (ns: string) => `/apis/gateway.networking.k8s.io/v1/namespaces/${ns}/httproutes`,
  services: (ns: string) => `/api/v1/namespaces/${ns}/services`,
  events: (ns: string) => `/api/v1/namespaces/${ns}/events`,
};

type EventList = { items: { reason: string; type: string; message: string }[] };

/**
 * The namespace's first Event with the reason (and type, when given), once it is there: the
 * controller posts Events beside the reconcile, so one may come after the status it explains.
 */
export function eventWith(client: KubeClient, ns: string, reason: string, type?: string) {
  return eventually(`a ${type ?? ""} ${reason} Event in ${ns}`, async () =>
    ok(await client.get<EventList>(paths.events(ns)), "events").items.find(
      (e) => e.reason === reason && (type === undefined || e.type === type),
    ),
  );
}
