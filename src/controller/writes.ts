import { GROUP, PLURAL, VERSION } from "../api/rollout.ts";
import type { KubeError, KubeResult } from "../kube/client.ts";

/** Raised when a write lost an optimistic-concurrency race; the reconcile starts over from a fresh read. */
export class Conflict {
  readonly error: KubeError;
  constructor(error: KubeError) {
    this.error = error;
  }
}

/**
 * Raised when the apiserver refused a write for a reason a retry alone will not cure (invalid,
 * forbidden, a schema that disagrees): the Rollout says so in a condition and an Event, and the
 * reconcile is retried with backoff.
 */
export class Refused {
  readonly what: string;
  readonly error: KubeError;
  constructor(what: string, error: KubeError) {
    this.what = what;
    this.error = error;
  }
  get message(): string {
    return `${this.what} was refused by the apiserver (${this.error.status} ${this.error.reason}): ${this.error.message}`;
  }
}

/** No answer, or an apiserver too busy or starting: worth retrying, and nothing to tell a person yet. */
const TRANSIENT = new Set([0, 429, 503, 504]);

export const rolloutPath = (namespace: string, name: string) =>
  `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${PLURAL}/${name}`;
export const deploymentPath = (namespace: string, name: string) =>
  `/apis/apps/v1/namespaces/${namespace}/deployments/${name}`;
export const servicesPath = (namespace: string) => `/api/v1/namespaces/${namespace}/services`;

export function must<T>(result: KubeResult<T>, what: string): T {
  if (result.ok) return result.value;
  if (result.error.status === 409) throw new Conflict(result.error);
  throw new Error(`${what}: ${result.error.reason}: ${result.error.message}`);
}

/** Like must, for writes: a refusal that is not a race or a passing outage is a Refused. */
export function written<T>(result: KubeResult<T>, what: string): T {
  if (!result.ok && result.error.status !== 409 && !TRANSIENT.has(result.error.status))
    throw new Refused(what, result.error);
  return must(result, what);
}

/** One write to the cluster; after the route's, what the route does is read back. */
export type Action = { write: () => Promise<void>; routes?: true };
