import type { z } from "zod";
import type { SecretKeyRef } from "../api/rollout.ts";
import type { KubeClient } from "../kube/client.ts";

export type SecretRef = z.infer<typeof SecretKeyRef>;
export type SecretValue = { ok: true; value: string } | { ok: false; reason: string };

/** Reads one key of a Secret in the rollout's namespace. */
export type SecretReader = (namespace: string, ref: SecretRef) => Promise<SecretValue>;

/**
 * Secrets are read when a check needs them, not kept between checks, so a rotated token is used at the next
 * check; a check's interval is far longer than one GET takes.
 */
export function secretReader(client: KubeClient): SecretReader {
  return async (namespace, ref) => {
    const where = `Secret ${namespace}/${ref.name}`;
    const got = await client.get<{ data?: Record<string, string> }>(
      `/api/v1/namespaces/${namespace}/secrets/${ref.name}`,
    );
    if (!got.ok) {
      const { status, message } = got.error;
      if (status === 404) return { ok: false, reason: `${where} does not exist` };
      if (status === 403)
        return { ok: false, reason: `the controller may not read ${where}: ${message}` };
      return { ok: false, reason: `cannot read ${where}: ${message}` };
    }
    const encoded = got.value.data?.[ref.key];
    if (encoded === undefined) return { ok: false, reason: `${where} has no key ${ref.key}` };
    return { ok: true, value: Buffer.from(encoded, "base64").toString("utf8").trim() };
  };
}

/**
 * The same reader, asking once per Secret key: within one check, metrics that share credentials
 * share one read, while the next check still sees a rotated token.
 */
export function readingOnce(reader: SecretReader): SecretReader {
  const read = new Map<string, Promise<SecretValue>>();
  return (namespace, ref) => {
    const key = JSON.stringify([namespace, ref.name, ref.key]);
    let value = read.get(key);
    if (!value) {
      value = reader(namespace, ref);
      read.set(key, value);
    }
    return value;
  };
}
