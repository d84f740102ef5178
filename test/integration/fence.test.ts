import { KubeConfig } from "@kubernetes/client-node";
import { describe, expect, inject, test } from "vitest";
import { KubeClient } from "../../src/kube/client.ts";
import { outsideFence, underFence } from "../../src/kube/fence.ts";

const admin = new KubeConfig();
admin.loadFromFile(inject("kubeconfig"));

function tenure() {
  const ended = new AbortController();
  return { signal: ended.signal, holds: () => !ended.signal.aborted, end: () => ended.abort() };
}

describe("the fence on a reconcile's requests (a shard's tenure)", () => {
  test("a write under an ended tenure is not sent and comes back ShardLost", async () => {
    const answered: string[] = [];
    const client = new KubeClient(admin, (method, path) => answered.push(`${method} ${path}`));
    const fence = tenure();
    fence.end();
    const name = `fenced-${Date.now()}`;
    const result = await underFence(fence, () =>
      client.create("/api/v1/namespaces", { metadata: { name } }),
    );
    expect(result).toMatchObject({ ok: false, error: { status: 0, reason: "ShardLost" } });
    expect(answered).toEqual([]);
    expect(await client.get(`/api/v1/namespaces/${name}`)).toMatchObject({
      ok: false,
      error: { status: 404 },
    });
  });

  test("ending a tenure aborts its request in flight; what it hands outside the fence still goes", async () => {
    const client = new KubeClient(admin);
    const fence = tenure();
    const inFlight = underFence(fence, () => client.get("/api/v1/namespaces"));
    fence.end();
    expect(await inFlight).toMatchObject({ ok: false, error: { reason: "ShardLost" } });
    const handedOn = await underFence(fence, () =>
      outsideFence(() => client.get("/api/v1/namespaces/default")),
    );
    expect(handedOn.ok).toBe(true);
  });

  test("work under no fence, and under one that holds, is sent as ever", async () => {
    const client = new KubeClient(admin);
    expect((await client.get("/api/v1/namespaces/default")).ok).toBe(true);
    expect((await underFence(tenure(), () => client.get("/api/v1/namespaces/default"))).ok).toBe(
      true,
    );
  });
});
