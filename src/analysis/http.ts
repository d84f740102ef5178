import https from "node:https";
import axios from "axios";

/** Why an HTTP request got no answer: the two differ in what a person should look at. */
export type NoAnswer = { kind: "timeout" | "unreachable"; reason: string };

const TLS_CODES = new Set([
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_HAS_EXPIRED",
  "CERT_NOT_YET_VALID",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "EPROTO",
]);

export function formatMs(ms: number): string {
  if (ms >= 1000 && ms % 100 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function originOf(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}

/**
 * Names the cause of a request that got no HTTP answer, for a person reading a status message:
 * a refused connection, a name that does not resolve, a certificate, or silence.
 */
export function noAnswer(error: unknown, url: string, timeoutMs: number, tlsHint = ""): NoAnswer {
  const origin = originOf(url);
  const code = axios.isAxiosError(error)
    ? error.code
    : (error as { code?: string } | undefined)?.code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === "ETIMEDOUT" || code === "ECONNABORTED" || /timeout/i.test(message)) {
    return { kind: "timeout", reason: `no answer from ${origin} within ${formatMs(timeoutMs)}` };
  }
  if (code && TLS_CODES.has(code)) {
    return {
      kind: "unreachable",
      reason: `TLS with ${origin} failed: ${message} (${code})${tlsHint}`,
    };
  }
  switch (code) {
    case "ECONNREFUSED":
      return { kind: "unreachable", reason: `cannot reach ${origin}: connection refused` };
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return {
        kind: "unreachable",
        reason: `cannot reach ${origin}: host name does not resolve (${code})`,
      };
    case "ECONNRESET":
    case "EPIPE":
      return { kind: "unreachable", reason: `${origin} closed the connection (${code})` };
    case "EHOSTUNREACH":
    case "ENETUNREACH":
      return { kind: "unreachable", reason: `cannot reach ${origin}: no route to host (${code})` };
    default:
      return { kind: "unreachable", reason: `cannot reach ${origin}: ${message}` };
  }
}

export type TlsOptions = { ca?: string | undefined; insecureSkipVerify?: boolean | undefined };

/** An agent only when TLS needs settings of its own; otherwise Node's defaults apply. */
export function httpsAgent(tls: TlsOptions): https.Agent | undefined {
  if (tls.ca === undefined && !tls.insecureSkipVerify) return undefined;
  return new https.Agent({
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    rejectUnauthorized: !tls.insecureSkipVerify,
  });
}

/** The start of a response body for a message: enough to recognise, never a whole page. */
export function excerpt(body: unknown, max = 200): string {
  const text = typeof body === "string" ? body : body === undefined ? "" : JSON.stringify(body);
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}
