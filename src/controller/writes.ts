import { GROUP, PLURAL, VERSION } from "../api/rollout.ts";
import type { KubeClient, KubeError, KubeResult } from "../kube/client.ts";
import type { RouteWrite } from "../traffic/router.ts";
import type { Store } from "./store.ts";

/** Raised when a write lost an optimistic-concurrency race; the reconcile starts over from a fresh read. */
export class Conflict {
  readonly error: KubeError;
  constructor(error: KubeError) {
    this.error = error;
  }
}

/**
 * Raised when a write was refused for a reason a retry alone will not cure: by the apiserver
 * (invalid, forbidden, a schema that disagrees), or by a router that will not steer a route as
 * it stands. The Rollout says so in a condition and an Event, and the reconcile is retried with
 * backoff.
 */
export class Refused {
  readonly message: string;
  constructor(what: string, why: string) {
    this.message = `${what} ${why}`;
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
    throw new Refused(
      what,
      `was refused by the apiserver (${result.error.status} ${result.error.reason}): ${result.error.message}`,
    );
  return must(result, what);
}

/** Like written, for a route: a write its router declined is refused by Fledge, not the apiserver. */
export function routeWritten(result: RouteWrite, what: string): void {
  if (!result.ok && "declined" in result)
    throw new Refused(what, `was not written: ${result.declined}`);
  written(result, what);
}

/**
 * One write to the cluster; after the route's, what the route does is read back. `replayable`:
 * a write whose effect the machine does not read as anything but the decision done (the route's
 * weights, the canary's replica count), so a controller that finds it done takes it again.
 */
export type Action = { write: () => Promise<void>; routes?: true; replayable?: true };

/**
 * A write refused for a stale resourceVersion: the cache learns the object as it is now, so the
 * reconcile that starts over works from it rather than from the copy that lost the race.
 */
export async function freshOnConflict<T>(
  result: KubeResult<T>,
  client: KubeClient,
  store: Store<unknown>,
  path: string,
): Promise<KubeResult<T>> {
  if (!result.ok && result.error.status === 409) {
    const fresh = await client.get(path);
    if (fresh.ok) store.remember(fresh.value);
  }
  return result;
}
