import { Hub } from "../dashboard/hub.ts";
import { startDashboard, urlOf } from "../dashboard/server.ts";
import type { Connection } from "./connect.ts";
import type { Io } from "./output.ts";
import { follow } from "./rollouts.ts";

/**
 * Serves the dashboard until the process is stopped. It talks to the apiserver as the person
 * does, with their kubeconfig and context, so their RBAC decides what it shows and lets them
 * steer, and the controller needs no permission for it.
 */
export async function dashboardCommand(
  c: Connection,
  io: Io,
  options: { port: number; address: string },
): Promise<number> {
  const hub = new Hub((selection, follower, signal) => follow(c, selection, follower, signal));
  const started = await startDashboard({
    client: c.client,
    server: c.server,
    hub,
    ...options,
  }).then(
    (server) => ({ ok: true as const, server }),
    (error: Error) => ({ ok: false as const, message: error.message }),
  );
  if (!started.ok) {
    io.err(`error: cannot listen on ${options.address}:${options.port}: ${started.message}\n`);
    return 1;
  }
  const url = `${urlOf(started.server)}#/${encodeURIComponent(c.namespace)}`;
  io.out(`Fledge dashboard for ${c.server} at ${url}\n`);
  await new Promise<void>((resolve) => started.server.on("close", resolve));
  return 0;
}
