import { readFile } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { explain } from "../cli/connect.ts";
import type { CliEvent, CliRollout } from "../cli/render.ts";
import { byTime, rolloutsPath, steerRollout } from "../cli/rollouts.ts";
import type { Command } from "../cli/steer.ts";
import type { KubeClient } from "../kube/client.ts";
import type { Change, Hub } from "./hub.ts";
import { ASSETS } from "./static.ts";

const COMMANDS: readonly Command[] = [
  "pause",
  "resume",
  "promote",
  "promoteFull",
  "abort",
  "retry",
];

/**
 * Pages send this header with every POST. A page on another site cannot add it without a CORS
 * preflight, which this server never grants, so no web page the person visits can steer their
 * rollouts through their credentials.
 */
export const STEER_HEADER = "x-fledge-dashboard";

export type DashboardOptions = {
  client: KubeClient;
  server: string;
  hub: Hub;
  address: string;
  port: number;
};

const json = (res: ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
};

/**
 * Server-sent events for one view: the Rollouts of a namespace (or of all), and with a name the
 * Events of that Rollout too. Each comes from the hub's shared watch of its kind and scope; the
 * page filters nothing and polls nothing.
 */
function stream(hub: Hub, req: IncomingMessage, res: ServerResponse, url: URL): void {
  const namespace = url.searchParams.get("namespace") || undefined;
  const name = url.searchParams.get("name") || undefined;
  res.writeHead(200, {
    "content-type": "text/event-stream",
    "cache-control": "no-store",
    connection: "keep-alive",
  });
  res.flushHeaders();
  const send = (event: string, data: unknown) =>
    res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
  const relay =
    <T>(event: string, pick: (items: T[]) => unknown) =>
    (change: Change<T>) =>
      change.type === "failed"
        ? send("failure", { what: event, message: change.message })
        : send(event, pick(change.items));
  const unsubscribe = [
    hub.subscribe<CliRollout>(
      { path: rolloutsPath(namespace), fieldSelector: "" },
      relay("rollouts", (items: CliRollout[]) =>
        items
          .filter((r) => name === undefined || r.metadata.name === name)
          .sort((a, b) =>
            `${a.metadata.namespace}/${a.metadata.name}`.localeCompare(
              `${b.metadata.namespace}/${b.metadata.name}`,
            ),
          ),
      ),
    ),
  ];
  if (namespace && name)
    unsubscribe.push(
      hub.subscribe<CliEvent & { involvedObject?: { kind?: string; name?: string } }>(
        { path: `/api/v1/namespaces/${namespace}/events`, fieldSelector: "" },
        relay("events", (items) =>
          byTime(
            items.filter(
              (e) => e.involvedObject?.kind === "Rollout" && e.involvedObject.name === name,
            ),
          ).slice(-50),
        ),
      ),
    );
  // Proxies and the browser drop a silent stream; a comment now and then keeps it open.
  const keepAlive = setInterval(() => res.write(": keep-alive\n\n"), 15_000);
  req.on("close", () => {
    clearInterval(keepAlive);
    for (const u of unsubscribe) u();
  });
}

async function steer(
  options: DashboardOptions,
  req: IncomingMessage,
  res: ServerResponse,
  [namespace, name, command]: string[],
): Promise<void> {
  if (!req.headers[STEER_HEADER]) return json(res, 403, { error: `missing ${STEER_HEADER}` });
  if (!namespace || !name || !COMMANDS.includes(command as Command))
    return json(res, 404, { error: "no such command" });
  const done = await steerRollout(options.client, namespace, name, command as Command);
  if (!done.ok)
    return json(res, done.error.status || 502, {
      error: explain(done.error, `rollout "${name}" in namespace "${namespace}"`, options.server),
    });
  json(res, 200, { done: done.value.steer.done });
}

async function asset(res: ServerResponse, path: string): Promise<boolean> {
  const found = ASSETS[path];
  if (!found) return false;
  res.writeHead(200, { "content-type": found.type, "cache-control": "no-cache" });
  res.end(await readFile(found.file));
  return true;
}

/** Serves the dashboard: the static page and its libraries, the live stream, the steering POSTs. */
export function startDashboard(options: DashboardOptions): Promise<Server> {
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://dashboard");
    const handle = async () => {
      if (req.method === "GET" && url.pathname === "/api/stream")
        return stream(options.hub, req, res, url);
      const steering = url.pathname.match(/^\/api\/rollouts\/([^/]+)\/([^/]+)\/([A-Za-z]+)$/);
      if (req.method === "POST" && steering)
        return steer(options, req, res, steering.slice(1).map(decodeURIComponent));
      if (req.method === "GET" && (await asset(res, url.pathname))) return;
      json(res, 404, { error: "not found" });
    };
    handle().catch((error: Error) => {
      if (!res.headersSent) json(res, 500, { error: error.message });
      else res.end();
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.address, () => resolve(server));
  });
}

export const urlOf = (server: Server) => {
  const { address, port } = server.address() as AddressInfo;
  return `http://${address.includes(":") ? `[${address}]` : address}:${port}/`;
};
