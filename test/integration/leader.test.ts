import { randomBytes } from "node:crypto";
import { type AddressInfo, connect, createServer, type Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CoordinationV1Api,
  CoreV1Api,
  KubeConfig,
  RbacAuthorizationV1Api,
} from "@kubernetes/client-node";
import { afterEach, describe, expect, inject, test } from "vitest";
import {
  type LeaderElection,
  type LeaderElectionOptions,
  startLeaderElection,
} from "../../src/controller/leader.ts";
import type { ApiAccess } from "../../src/kube/request.ts";
import { silentLogger } from "../../src/observability/logger.ts";
import { serviceAccountKubeConfig } from "../harness/control-plane.ts";

const admin = new KubeConfig();
admin.loadFromFile(inject("kubeconfig"));
const core = admin.makeApiClient(CoreV1Api);

// Short periods keep the tests fast; the ratios are the defaults' (15 : 10 : 2).
const TIMING = { leaseDurationMs: 1500, renewDeadlineMs: 1000, retryPeriodMs: 200 };

async function namespace(prefix: string): Promise<string> {
  const name = `${prefix}-${randomBytes(3).toString("hex")}`;
  await core.createNamespace({ body: { metadata: { name } } });
  return name;
}

interface Candidate {
  identity: string;
  election: LeaderElection;
  started: number;
  stopped: number;
}

function candidate(
  ns: string,
  identity: string,
  kubeConfig: ApiAccess = admin,
  timing: Pick<
    LeaderElectionOptions,
    "leaseDurationMs" | "renewDeadlineMs" | "retryPeriodMs" | "renewIntervalMs"
  > = TIMING,
): Candidate {
  const c: Candidate = {
    identity,
    started: 0,
    stopped: 0,
    election: startLeaderElection({
      kubeConfig,
      namespace: ns,
      name: "fledge-controller",
      identity,
      ...timing,
      logger: silentLogger,
      onStartedLeading: () => {
        c.started += 1;
      },
      onStoppedLeading: () => {
        c.stopped += 1;
      },
    }),
  };
  return c;
}

/** Samples isLeader of every candidate every few ms and remembers any instant with two leaders. */
function watchLeaders(candidates: Candidate[]) {
  let overlaps = 0;
  let samples = 0;
  const timer = setInterval(() => {
    samples += 1;
    if (candidates.filter((c) => c.election.isLeader).length > 1) overlaps += 1;
  }, 2);
  return {
    get overlaps() {
      return overlaps;
    },
    get samples() {
      return samples;
    },
    stop: () => clearInterval(timer),
  };
}

async function until(what: string, probe: () => boolean, timeoutMs = 20_000): Promise<number> {
  const started = performance.now();
  while (!probe()) {
    if (performance.now() - started > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await sleep(2);
  }
  return performance.now() - started;
}

const running: Candidate[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((c) => c.election.stop()));
});

describe("leader election on a Lease", () => {
  test("exactly one of two candidates leads, and stopping it hands over at once", async () => {
    const ns = await namespace("leader-handover");
    const a = candidate(ns, "a");
    const b = candidate(ns, "b");
    running.push(a, b);
    const leaders = watchLeaders([a, b]);
    try {
      await until("a leader", () => a.election.isLeader || b.election.isLeader);
      // Several renewal periods: the leader keeps the lease, the other keeps waiting.
      await sleep(TIMING.leaseDurationMs * 2);
      const [leader, follower] = a.election.isLeader ? [a, b] : [b, a];
      expect(leader.election.isLeader).toBe(true);
      expect(follower.election.isLeader).toBe(false);
      expect([leader.started, follower.started]).toEqual([1, 0]);

      const lease = await admin
        .makeApiClient(CoordinationV1Api)
        .readNamespacedLease({ name: "fledge-controller", namespace: ns });
      expect(lease.spec?.holderIdentity).toBe(leader.identity);

      const stopping = performance.now();
      await leader.election.stop();
      const handover = await until("the follower to lead", () => follower.election.isLeader);
      console.info(
        `leader: handover took ${(performance.now() - stopping).toFixed(0)} ms from stop() ` +
          `(${handover.toFixed(0)} ms after stop() returned); ${leaders.samples} samples, no overlap`,
      );
      // Released, not expired: well under the lease duration.
      expect(performance.now() - stopping).toBeLessThan(TIMING.leaseDurationMs);
      expect(leader.stopped).toBe(0);
      expect(follower.started).toBe(1);
      expect(leaders.overlaps).toBe(0);
    } finally {
      leaders.stop();
    }
  });

  test("many candidates racing for a fresh lease produce one leader", async () => {
    const ns = await namespace("leader-race");
    const candidates = Array.from({ length: 6 }, (_, i) => candidate(ns, `c${i}`));
    running.push(...candidates);
    const leaders = watchLeaders(candidates);
    try {
      await until("a leader", () => candidates.some((c) => c.election.isLeader));
      await sleep(TIMING.leaseDurationMs * 2);
      expect(candidates.filter((c) => c.election.isLeader)).toHaveLength(1);
      expect(candidates.reduce((sum, c) => sum + c.started, 0)).toBe(1);
      expect(leaders.overlaps).toBe(0);
    } finally {
      leaders.stop();
    }
  });

  test("a leader that cannot renew steps down, and the other takes over once the lease expires", async () => {
    const ns = await namespace("leader-renew");
    // The first candidate acts as a ServiceAccount whose right to write Leases the test revokes.
    await core.createNamespacedServiceAccount({
      namespace: ns,
      body: { metadata: { name: "ctl" } },
    });
    const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
    await rbac.createNamespacedRole({
      namespace: ns,
      body: {
        metadata: { name: "leases" },
        rules: [
          {
            apiGroups: ["coordination.k8s.io"],
            resources: ["leases"],
            verbs: ["get", "create", "update"],
          },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace: ns,
      body: {
        metadata: { name: "ctl-leases" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "leases" },
        subjects: [{ kind: "ServiceAccount", name: "ctl", namespace: ns }],
      },
    });
    const a = candidate(ns, "a", await serviceAccountKubeConfig(admin, ns, "ctl"));
    running.push(a);
    await until("a to lead", () => a.election.isLeader);
    const b = candidate(ns, "b");
    running.push(b);
    const leaders = watchLeaders([a, b]);
    try {
      await sleep(TIMING.retryPeriodMs * 3);
      expect(b.election.isLeader).toBe(false);

      const revoked = performance.now();
      await rbac.deleteNamespacedRoleBinding({ name: "ctl-leases", namespace: ns });
      const steppedDown = await until("a to step down", () => !a.election.isLeader);
      expect(a.stopped).toBe(1);
      const tookOver = await until("b to lead", () => b.election.isLeader);
      console.info(
        `leader: lost renewals at ${revoked.toFixed(0)}: stepped down after ${steppedDown.toFixed(0)} ms, ` +
          `successor led ${tookOver.toFixed(0)} ms later`,
      );
      // Stepping down takes at most the renew deadline (plus the RBAC change reaching the
      // authorizer); the successor waits out the lease it last saw renewed.
      expect(steppedDown).toBeLessThan(TIMING.renewDeadlineMs + 1000);
      expect(b.started).toBe(1);
      expect(leaders.overlaps).toBe(0);
    } finally {
      leaders.stop();
    }
  });

  test("stopped while any of its writes is in flight, a candidate hands the Lease back: the create, the takeover, the renewal", async () => {
    // Every answer reaches the candidate late, so that the Lease is seen stored while the answer
    // to the write that stored it is still on its way.
    const delayMs = 500;
    const slow = await delayingProxy(delayMs);
    const through: ApiAccess = {
      getCurrentCluster: () => ({ server: `https://127.0.0.1:${slow.port}` }),
      applyToHTTPSOptions: (options) => admin.applyToHTTPSOptions(options),
    };
    const timing = {
      leaseDurationMs: 6000,
      renewDeadlineMs: 4000,
      retryPeriodMs: 300,
      renewIntervalMs: 1000,
    };
    const leases = admin.makeApiClient(CoordinationV1Api);
    const read = (ns: string) =>
      leases.readNamespacedLease({ name: "fledge-controller", namespace: ns }).then(
        (lease) => lease.spec,
        () => undefined,
      );
    /** Stops the candidate the moment the Lease shows `changed`, and returns the Lease after. */
    const stopWhen = async (
      c: Candidate,
      ns: string,
      changed: (spec: Awaited<ReturnType<typeof read>>) => boolean,
    ) => {
      while (!changed(await read(ns))) await sleep(5);
      await c.election.stop();
      return read(ns);
    };
    try {
      const created = await namespace("leader-stop-create");
      const a = candidate(created, "a", through, timing);
      running.push(a);
      const afterCreate = await stopWhen(a, created, (spec) => spec?.holderIdentity === "a");

      const taken = await namespace("leader-stop-takeover");
      await leases.createNamespacedLease({
        namespace: taken,
        body: {
          metadata: { name: "fledge-controller" },
          spec: { holderIdentity: "gone", leaseDurationSeconds: 1 },
        },
      });
      const b = candidate(taken, "b", through, timing);
      running.push(b);
      const afterTakeover = await stopWhen(b, taken, (spec) => spec?.holderIdentity === "b");

      const renewed = await namespace("leader-stop-renewal");
      const c = candidate(renewed, "c", through, timing);
      running.push(c);
      await until("c to lead", () => c.election.isLeader);
      const acquired = (await read(renewed))?.renewTime;
      const afterRenewal = await stopWhen(
        c,
        renewed,
        (spec) => String(spec?.renewTime) !== String(acquired),
      );

      expect({
        afterCreate: afterCreate?.holderIdentity,
        afterTakeover: afterTakeover?.holderIdentity,
        afterRenewal: afterRenewal?.holderIdentity,
      }).toEqual({
        afterCreate: undefined,
        afterTakeover: undefined,
        afterRenewal: undefined,
      });
      // The first two never led: their winning write was answered after stop().
      expect([a.started, b.started, c.started]).toEqual([0, 0, 1]);
      expect([a.stopped, b.stopped, c.stopped]).toEqual([0, 0, 0]);
    } finally {
      await slow.close();
    }
  });
});

/** A TCP proxy to the apiserver that holds each of its answers back by `delayMs`, in order. */
async function delayingProxy(delayMs: number) {
  const upstream = new URL(admin.getCurrentCluster()?.server ?? "");
  const open = new Set<Socket>();
  const server = createServer((client) => {
    const api = connect(Number(upstream.port), upstream.hostname);
    for (const socket of [client, api]) {
      open.add(socket);
      socket.on("close", () => open.delete(socket));
      socket.on("error", () => {
        client.destroy();
        api.destroy();
      });
    }
    client.on("data", (chunk) => api.write(chunk));
    api.on("data", (chunk) => setTimeout(() => client.write(chunk), delayMs));
    api.on("end", () => setTimeout(() => client.end(), delayMs));
    client.on("end", () => api.end());
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        // The candidates' agents keep their connections open for reuse.
        for (const socket of open) socket.destroy();
      }),
  };
}
