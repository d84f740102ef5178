import { createServer, type RequestListener, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll } from "vitest";

/**
 * An HTTP server on the loopback for one test file (a webhook its Rollouts call): listening
 * before the file's tests, its port in the returned object, closed after them.
 */
export function loopbackServer(handler: RequestListener): { port: number } {
  const listening = { port: 0 };
  let server: Server | undefined;
  beforeAll(async () => {
    const s = createServer(handler);
    server = s;
    await new Promise<void>((resolve) => s.listen(0, "127.0.0.1", resolve));
    listening.port = (s.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });
  return listening;
}
