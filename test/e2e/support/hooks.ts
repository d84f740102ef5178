// A webhook receiver on loopback for the controller process to call: it answers as the test
// says and keeps every payload.

import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

export type Received = { path: string; body: Record<string, unknown> };

export type Receiver = {
  url: string;
  received: Received[];
  /** The status each path answers with from now on (200 unless set). */
  answer(path: string, status: number): void;
  close(): Promise<void>;
};

export async function webhookReceiver(): Promise<Receiver> {
  const received: Received[] = [];
  const statuses = new Map<string, number>();
  const server = createServer((req, res) => {
    let body = "";
    req.on("data", (chunk) => {
      body += chunk;
    });
    req.on("end", () => {
      const path = req.url ?? "/";
      received.push({ path, body: body ? JSON.parse(body) : {} });
      const status = statuses.get(path) ?? 200;
      res.writeHead(status).end(status === 200 ? "ok" : "not yet");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    answer: (path, status) => statuses.set(path, status),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
