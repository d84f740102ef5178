import type { Server } from "node:http";
import { get, type IncomingMessage } from "node:http";
import { afterEach, describe, expect, it } from "vitest";
import type { Follower, Selection } from "../../src/cli/rollouts.ts";
import { type Follow, Hub } from "../../src/dashboard/hub.ts";
import { STEER_HEADER, startDashboard, urlOf } from "../../src/dashboard/server.ts";
import { KubeClient } from "../../src/kube/client.ts";

/** A follow that counts the watches opened and lets the test push lists through them. */
function fakeFollow() {
  const opened: Selection[] = [];
  const live = new Set<Follower<unknown>>();
  const follow: Follow = (selection, follower, signal) => {
    opened.push(selection);
    live.add(follower as Follower<unknown>);
    void follower.onList([]);
    return new Promise((resolve) =>
      signal.addEventListener("abort", () => {
        live.delete(follower as Follower<unknown>);
        resolve({ kind: "stopped" });
      }),
    );
  };
  return { follow, opened, live };
}

const rollout = (name: string, weight: number) => ({
  metadata: { name, namespace: "shop", uid: name },
  status: { phase: "Progressing", canaryWeight: weight },
});

/** Opens an SSE stream and collects its events' data by name. */
function openStream(url: string) {
  const seen: { event: string; data: unknown }[] = [];
  let response: IncomingMessage | undefined;
  const ready = new Promise<void>((resolve) => {
    get(url, (res) => {
      response = res;
      res.setEncoding("utf8");
      let buffer = "";
      res.on("data", (chunk: string) => {
        buffer += chunk;
        const blocks = buffer.split("\n\n");
        buffer = blocks.pop() ?? "";
        for (const b of blocks) {
          const event = b.match(/^event: (.*)$/m)?.[1];
          const data = b.match(/^data: (.*)$/m)?.[1];
          if (event && data) seen.push({ event, data: JSON.parse(data) });
        }
      });
      resolve();
    });
  });
  return { seen, ready, close: () => response?.destroy() };
}

const until = async (ok: () => boolean) => {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 10));
  expect(ok()).toBe(true);
};

let server: Server | undefined;
afterEach(() => server?.close());

describe("the dashboard's shared watches", () => {
  it("ten pages on the same views open one watch per kind and namespace, closed with the last page", async () => {
    const fake = fakeFollow();
    const hub = new Hub(fake.follow);
    // No apiserver is asked: the client is never used by the streams.
    const client = new KubeClient({} as never);
    server = await startDashboard({ client, server: "", hub, address: "127.0.0.1", port: 0 });
    const base = urlOf(server);
    const lists = Array.from({ length: 10 }, () => openStream(`${base}api/stream?namespace=shop`));
    const pages = Array.from({ length: 10 }, () =>
      openStream(`${base}api/stream?namespace=shop&name=podinfo`),
    );
    await Promise.all([...lists, ...pages].map((s) => s.ready));
    await until(() => pages.every((p) => p.seen.some((s) => s.event === "events")));
    // Rollouts in shop (the lists and the pages share it) and Events in shop.
    expect(fake.opened.map((s) => s.path)).toEqual([
      "/apis/fledge.dev/v1alpha1/namespaces/shop/rollouts",
      "/api/v1/namespaces/shop/events",
    ]);
    expect(hub.open).toBe(2);

    for (const f of fake.live) void f.onChange("ADDED", rollout("podinfo", 20));
    await until(() =>
      [...lists, ...pages].every((s) =>
        s.seen.some(
          (e) =>
            e.event === "rollouts" &&
            (e.data as { status: { canaryWeight: number } }[])[0]?.status.canaryWeight === 20,
        ),
      ),
    );
    // A page opened later is told what the hub holds, without a watch of its own.
    const late = openStream(`${base}api/stream?namespace=shop`);
    await until(() => late.seen.some((e) => (e.data as unknown[]).length === 1));
    expect(fake.opened).toHaveLength(2);
    console.info(`21 streams open, ${fake.opened.length} watches opened`);

    for (const s of [...lists, ...pages, late]) s.close();
    await until(() => hub.open === 0);
    expect(fake.live.size).toBe(0);
  });

  it("refuses a steering POST without the page's header", async () => {
    const hub = new Hub(fakeFollow().follow);
    server = await startDashboard({
      client: new KubeClient({} as never),
      server: "",
      hub,
      address: "127.0.0.1",
      port: 0,
    });
    const res = await fetch(`${urlOf(server)}api/rollouts/shop/podinfo/abort`, { method: "POST" });
    expect(res.status).toBe(403);
    expect(await res.text()).toContain(STEER_HEADER);
  });

  it("serves the page and its libraries", async () => {
    server = await startDashboard({
      client: new KubeClient({} as never),
      server: "",
      hub: new Hub(fakeFollow().follow),
      address: "127.0.0.1",
      port: 0,
    });
    for (const path of [
      "",
      "app.js",
      "vendor/preact-htm.js",
      "vendor/uplot.js",
      "vendor/uplot.css",
    ]) {
      const res = await fetch(`${urlOf(server)}${path}`);
      expect(res.status, path).toBe(200);
    }
  });
});
