import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import https from "node:https";
import { isIPv6 } from "node:net";
import { homedir } from "node:os";
import { delimiter, dirname, join, resolve } from "node:path";
import type { ApiAccess } from "./request.ts";

const SERVICE_ACCOUNT = "/var/run/secrets/kubernetes.io/serviceaccount";
// client-go re-reads a token file at most once a minute, so a rotated projected token is used
// soon after kubelet writes it, without a file read per request.
const TOKEN_REREAD_MS = 60_000;

type NamedCluster = {
  server?: string;
  "certificate-authority"?: string;
  "certificate-authority-data"?: string;
  "insecure-skip-tls-verify"?: boolean;
  "tls-server-name"?: string;
  "proxy-url"?: string;
};
type NamedUser = {
  token?: string;
  tokenFile?: string;
  "client-certificate"?: string;
  "client-certificate-data"?: string;
  "client-key"?: string;
  "client-key-data"?: string;
  exec?: unknown;
  "auth-provider"?: unknown;
  username?: string;
};
type KubeconfigFile = {
  clusters?: { name: string; cluster: NamedCluster }[];
  users?: { name: string; user: NamedUser }[];
  contexts?: { name: string; context: { cluster: string; user: string } }[];
  "current-context"?: string;
};

/** The apiserver's address, its TLS trust and a bearer token (fixed, or read from a file). */
export type Endpoint = {
  server: string;
  tls: https.AgentOptions;
  token?: string;
  tokenFile?: string;
};

/**
 * One keep-alive agent for every request: client-node's agent closes each connection after its
 * answer, so a busy controller paid a TLS handshake per request.
 */
class EndpointAccess implements ApiAccess {
  private readonly cluster: { server: string };
  private readonly agent: https.Agent;
  private readonly endpoint: Endpoint;
  private token: { value: string; readAt: number } | undefined;

  constructor(endpoint: Endpoint) {
    this.endpoint = endpoint;
    this.cluster = { server: endpoint.server };
    this.agent = new https.Agent({ ...endpoint.tls, keepAlive: true });
  }

  getCurrentCluster() {
    return this.cluster;
  }

  async applyToHTTPSOptions(options: https.RequestOptions): Promise<void> {
    options.agent = this.agent;
    const token = await this.bearer();
    if (token) options.headers = { ...options.headers, authorization: `Bearer ${token}` };
  }

  private async bearer(): Promise<string | undefined> {
    const { tokenFile } = this.endpoint;
    if (!tokenFile) return this.endpoint.token;
    const now = performance.now();
    if (!this.token || now - this.token.readAt > TOKEN_REREAD_MS)
      this.token = { value: (await readFile(tokenFile, "utf8")).trim(), readAt: now };
    return this.token.value;
  }
}

const fileOrData = async (dir: string, file: string | undefined, data: string | undefined) =>
  data !== undefined
    ? Buffer.from(data, "base64")
    : file !== undefined
      ? readFile(resolve(dir, file))
      : undefined;

/**
 * The endpoint a kubeconfig's current context names, or undefined when it asks for what only
 * client-node implements (exec plugins, auth providers, basic auth, proxies).
 */
export async function endpointOf(
  config: KubeconfigFile,
  dir: string,
): Promise<Endpoint | undefined> {
  const context = config.contexts?.find((c) => c.name === config["current-context"])?.context;
  const cluster = config.clusters?.find((c) => c.name === context?.cluster)?.cluster;
  const user = config.users?.find((u) => u.name === context?.user)?.user ?? {};
  if (!cluster?.server?.startsWith("https:")) return undefined;
  if (cluster["proxy-url"] || user.exec || user["auth-provider"] || user.username) return undefined;
  const tls: https.AgentOptions = {
    ca: await fileOrData(
      dir,
      cluster["certificate-authority"],
      cluster["certificate-authority-data"],
    ),
    cert: await fileOrData(dir, user["client-certificate"], user["client-certificate-data"]),
    key: await fileOrData(dir, user["client-key"], user["client-key-data"]),
  };
  if (cluster["insecure-skip-tls-verify"]) tls.rejectUnauthorized = false;
  if (cluster["tls-server-name"]) tls.servername = cluster["tls-server-name"];
  return {
    server: cluster.server,
    tls,
    token: user.token,
    tokenFile: user.tokenFile ? resolve(dir, user.tokenFile) : undefined,
  };
}

/** The Pod's own ServiceAccount, as client-go's in-cluster config finds it. */
export async function inClusterEndpoint(root = SERVICE_ACCOUNT): Promise<Endpoint> {
  const host = process.env.KUBERNETES_SERVICE_HOST ?? "";
  const port = process.env.KUBERNETES_SERVICE_PORT ?? "443";
  return {
    server: `https://${isIPv6(host) ? `[${host}]` : host}:${port}`,
    tls: { ca: await readFile(join(root, "ca.crt")) },
    tokenFile: join(root, "token"),
  };
}

async function parseFile(path: string): Promise<KubeconfigFile> {
  const text = await readFile(path, "utf8");
  // A kubeconfig is YAML, and JSON is YAML; the YAML parser is loaded only for a file that needs it.
  const { parse } = await import("yaml");
  return parse(text) as KubeconfigFile;
}

/** client-node's loader, loaded only for kubeconfigs the light path does not cover. */
async function clientNode(path: string | undefined): Promise<ApiAccess> {
  const { KubeConfig } = await import("@kubernetes/client-node");
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  return kc;
}

/**
 * Loads access the way kubectl finds it: --kubeconfig, else $KUBECONFIG, else ~/.kube/config,
 * else the in-cluster ServiceAccount. Importing client-node costs the controller about 85 MB of
 * memory, so it is imported only for what it alone implements (exec plugins, auth providers,
 * several files in $KUBECONFIG to merge).
 */
export async function loadApiAccess(path?: string): Promise<ApiAccess> {
  const fromEnv = process.env.KUBECONFIG?.split(delimiter).filter(Boolean) ?? [];
  if (!path && fromEnv.length > 1) return clientNode(undefined);
  const home = join(homedir(), ".kube", "config");
  const file = path ?? fromEnv[0] ?? (existsSync(home) ? home : undefined);
  if (!file) {
    if (!process.env.KUBERNETES_SERVICE_HOST)
      throw new Error("no kubeconfig: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config");
    return new EndpointAccess(await inClusterEndpoint());
  }
  const endpoint = await endpointOf(await parseFile(file), dirname(resolve(file)));
  return endpoint ? new EndpointAccess(endpoint) : clientNode(file);
}
