import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import type https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { endpointOf, loadApiAccess } from "../../src/kube/kubeconfig.ts";

const dir = mkdtempSync(join(tmpdir(), "fledge-kubeconfig-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const config = (cluster: Record<string, unknown>, user: Record<string, unknown>) => ({
  clusters: [{ name: "c", cluster: { server: "https://10.0.0.1:6443", ...cluster } }],
  users: [{ name: "u", user }],
  contexts: [
    { name: "other", context: { cluster: "x", user: "y" } },
    { name: "ctx", context: { cluster: "c", user: "u" } },
  ],
  "current-context": "ctx",
});

describe("kubeconfig", () => {
  it("reads the current context's cluster and user, inline data and files beside the kubeconfig", async () => {
    writeFileSync(join(dir, "ca.pem"), "CA");
    const endpoint = await endpointOf(
      config(
        { "certificate-authority": "ca.pem", "tls-server-name": "api" },
        {
          "client-certificate-data": Buffer.from("CERT").toString("base64"),
          "client-key-data": Buffer.from("KEY").toString("base64"),
          token: "t0",
        },
      ),
      dir,
    );
    expect(endpoint?.server).toBe("https://10.0.0.1:6443");
    expect(String(endpoint?.tls.ca)).toBe("CA");
    expect(String(endpoint?.tls.cert)).toBe("CERT");
    expect(String(endpoint?.tls.key)).toBe("KEY");
    expect(endpoint?.tls.servername).toBe("api");
    expect(endpoint?.tls.rejectUnauthorized).toBeUndefined();
    expect(endpoint?.token).toBe("t0");
  });

  it("leaves exec plugins, auth providers, basic auth and proxies to client-node", async () => {
    for (const [cluster, user] of [
      [{}, { exec: { command: "aws" } }],
      [{}, { "auth-provider": { name: "oidc" } }],
      [{}, { username: "admin", password: "secret" }],
      [{ "proxy-url": "http://proxy:3128" }, {}],
      [{ server: "http://localhost:8080" }, {}],
    ]) {
      expect(await endpointOf(config(cluster ?? {}, user ?? {}), dir)).toBeUndefined();
    }
  });

  it("sends the token on one keep-alive agent, read from its file", async () => {
    writeFileSync(join(dir, "token"), "from-file\n");
    const path = join(dir, "config.yaml");
    writeFileSync(
      path,
      stringify(config({ "insecure-skip-tls-verify": true }, { tokenFile: "token" })),
    );
    const access = await loadApiAccess(path);
    const first: https.RequestOptions = {};
    const second: https.RequestOptions = {};
    await access.applyToHTTPSOptions(first);
    await access.applyToHTTPSOptions(second);
    expect(access.getCurrentCluster()?.server).toBe("https://10.0.0.1:6443");
    expect(first.headers).toEqual({ authorization: "Bearer from-file" });
    expect(first.agent).toBe(second.agent);
    expect((first.agent as https.Agent).options).toMatchObject({
      keepAlive: true,
      rejectUnauthorized: false,
    });
  });
});
