// What the simulated mesh writes into the status of the HTTPRoutes it routes for, as a GAMMA
// mesh does: one status.parents entry per Service parent, under its own controllerName, with
// Accepted and ResolvedRefs conditions. Entries of other controllers are left as they are, and a
// route is written only when its entries would change, so an idle cluster stays quiet.

import { isDeepStrictEqual } from "node:util";
import type { KubeClient } from "../../../src/kube/client.ts";
import type { Informer } from "../../../src/kube/informer.ts";
import type { Logger } from "../../../src/observability/logger.ts";
import { GATEWAY_GROUP, REFUSE_ROUTES_ANNOTATION, SIMULATED_MESH_CONTROLLER } from "./model.ts";
import {
  type BackendRef,
  type ClusterSnapshot,
  type HttpRouteInfo,
  isServiceRef,
  meshParent,
  refusal,
} from "./routing.ts";

export interface RouteCondition {
  type: string;
  status: "True" | "False" | "Unknown";
  reason: string;
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface StatusParent {
  parentRef: Record<string, unknown>;
  controllerName: string;
  conditions: RouteCondition[];
}

// The CRD's pattern for a condition's reason.
const REASON = /^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$/;

function resolvedRefs(cluster: ClusterSnapshot, route: HttpRouteInfo) {
  const refs: BackendRef[] = route.rules.flatMap((rule) => [
    ...rule.backends,
    ...rule.mirrors.map((m) => m.backend),
  ]);
  const problems: { reason: string; message: string }[] = [];
  for (const ref of refs) {
    const where = `${ref.namespace}/${ref.name}`;
    if (!isServiceRef(ref))
      problems.push({ reason: "InvalidKind", message: `${ref.kind} ${where} is not a Service` });
    else if (ref.namespace !== route.namespace)
      problems.push({
        reason: "RefNotPermitted",
        message: `Service ${where} is in another namespace`,
      });
    else if (!cluster.service(ref.namespace, ref.name))
      problems.push({ reason: "BackendNotFound", message: `Service ${where} not found` });
  }
  const first = problems[0];
  return first
    ? {
        status: "False" as const,
        reason: first.reason,
        message: problems.map((p) => p.message).join("; "),
      }
    : {
        status: "True" as const,
        reason: "ResolvedRefs",
        message: "all backend references resolved",
      };
}

/**
 * The route's status.parents as the simulated mesh would have them, lastTransitionTime kept
 * where a condition's status did not change; undefined when `current` is that already.
 */
export function parentsStatus(
  cluster: ClusterSnapshot,
  route: HttpRouteInfo,
  current: StatusParent[],
  now: string,
): StatusParent[] | undefined {
  const others = current.filter((p) => p.controllerName !== SIMULATED_MESH_CONTROLLER);
  const ours: StatusParent[] = [];
  const resolved = resolvedRefs(cluster, route);
  for (const parent of route.parents) {
    const service = meshParent(cluster, route, parent);
    if (!service) continue;
    const refused = refusal(service);
    const accepted =
      refused === undefined
        ? { status: "True" as const, reason: "Accepted", message: "accepted by the simulated mesh" }
        : {
            status: "False" as const,
            reason: REASON.test(refused) ? refused : "Refused",
            message: `refused: Service ${service.namespace}/${service.name} has ${REFUSE_ROUTES_ANNOTATION}=${refused}`,
          };
    const before = current.find(
      (p) =>
        p.controllerName === SIMULATED_MESH_CONTROLLER &&
        isDeepStrictEqual(p.parentRef, parent.spec),
    );
    const condition = (
      type: string,
      c: Omit<RouteCondition, "type" | "observedGeneration" | "lastTransitionTime">,
    ): RouteCondition => {
      const old = before?.conditions.find((o) => o.type === type);
      return {
        type,
        ...c,
        observedGeneration: route.generation,
        lastTransitionTime: old && old.status === c.status ? old.lastTransitionTime : now,
      };
    };
    ours.push({
      parentRef: parent.spec,
      controllerName: SIMULATED_MESH_CONTROLLER,
      conditions: [condition("Accepted", accepted), condition("ResolvedRefs", resolved)],
    });
  }
  const next = [...others, ...ours];
  return isDeepStrictEqual(next, current) ? undefined : next;
}

export interface RouteStatus {
  /** Looks at every route again soon (after the caches changed). */
  kick(): void;
  stop(): Promise<void>;
}

type StatusRoute = HttpRouteInfo & {
  metadata: { name: string; namespace: string; resourceVersion?: string };
  statusParents: StatusParent[];
};

/**
 * Keeps the routes' status.parents as parentsStatus says, looking again whenever a route (and,
 * through kick(), a Service) changes. A write carries the resourceVersion it was computed from,
 * so another controller's entry written meanwhile is not lost: a conflict waits for the watch.
 */
export function startRouteStatus(options: {
  client: KubeClient;
  routes: Informer<StatusRoute>;
  snapshot: () => ClusterSnapshot;
  logger: Logger;
}): RouteStatus {
  const { client, routes, snapshot, logger } = options;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  let stopped = false;

  const pass = async () => {
    const cluster = snapshot();
    const now = new Date().toISOString().replace(/\.\d+Z$/, "Z");
    for (const route of routes.list()) {
      if (stopped) return;
      const parents = parentsStatus(cluster, route, route.statusParents, now);
      if (!parents) continue;
      const { namespace, name, resourceVersion } = route.metadata;
      const written = await client.patch(
        `/apis/${GATEWAY_GROUP}/v1/namespaces/${namespace}/httproutes/${name}/status`,
        { metadata: { resourceVersion }, status: { parents } },
      );
      if (written.ok) routes.remember(written.value);
      else if (written.error.reason !== "Conflict" && written.error.reason !== "NotFound")
        logger.warn({ namespace, name, error: written.error }, "HTTPRoute status not written");
    }
  };
  const kick = () => {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      running = running.then(pass).catch((error) => {
        logger.error({ err: error }, "HTTPRoute status pass failed");
      });
    }, 50);
    timer.unref();
  };
  routes.onEvent(kick);
  routes.onReconnect(kick);
  kick();
  return {
    kick,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}
