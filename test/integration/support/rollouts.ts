import { afterAll, beforeAll } from "vitest";
import type { KubeClient } from "../../../src/kube/client.ts";
import { routeView, trafficOf } from "../../../src/traffic/gateway/http-route.ts";
import { canaryPercent, splitView } from "../../../src/traffic/smi/router.ts";
import {
  adminClient,
  deploymentManifest,
  eventually,
  newNamespace,
  ok,
  paths,
  rolloutManifest,
} from "./cluster.ts";
import {
  controllerKubeconfig,
  type RunningController,
  startController,
  tempDir,
} from "./controller.ts";

export type RolloutJson = {
  metadata: { resourceVersion: string; annotations?: Record<string, string> };
  status?: {
    phase?: string;
    message?: string;
    stableRevision?: string;
    canaryRevision?: string;
    canaryWeight?: number;
    currentStepIndex?: number;
    pauseReasons?: { reason: string; until?: string }[];
    conditions?: { type: string; status: string; reason: string; message: string }[];
  };
};

export type Steps = Record<string, unknown>[];

/**
 * One test file's world: an admin client and a controller process under deploy/'s
 * ServiceAccount, started before the file's tests and stopped after them.
 */
export function withController(args: () => string[] = () => [], logLevel?: string) {
  const world = {} as {
    client: KubeClient;
    controller: RunningController;
    kubeconfig: string;
    dir: string;
  };
  const tmp = tempDir();
  world.dir = tmp.dir;
  beforeAll(async () => {
    world.client = await adminClient();
    world.kubeconfig = await controllerKubeconfig(tmp.dir);
    world.controller = startController(world.kubeconfig, tmp.dir, args(), logLevel);
  });
  afterAll(async () => {
    await world.controller?.kill();
    if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
  });
  return world;
}

/** The Services Fledge makes for podinfo, as a router reads its route back by them. */
const PODINFO_ROUTE = {
  owner: { name: "podinfo", namespace: "", uid: "" },
  apex: "podinfo",
  primaryService: "podinfo-primary",
  canaryService: "podinfo-canary",
  port: 9898,
};

/** The steps a test takes on podinfo and its Rollout in a namespace of its own. */
export class Podinfo {
  readonly client: KubeClient;
  readonly ns: string;
  /** The HTTPRoute the Rollout steers, when it routes through the Gateway API. */
  private readonly httpRoute: string | undefined;

  private constructor(client: KubeClient, ns: string, httpRoute: string | undefined) {
    this.client = client;
    this.ns = ns;
    this.httpRoute = httpRoute;
  }

  /** A namespace with podinfo (2 replicas) and its Rollout, initialised and Healthy. */
  static async healthy(
    client: KubeClient,
    prefix: string,
    steps: Steps,
    extra: Record<string, unknown> = {},
    before?: (ns: string) => Promise<void>,
  ) {
    const p = await Podinfo.create(client, prefix, steps, extra, before);
    const initial = await p.phase("Healthy");
    return { p, initial };
  }

  /** `before` makes what the Rollout expects to find in the namespace (a route of the user's). */
  static async create(
    client: KubeClient,
    prefix: string,
    steps: Steps,
    extra: Record<string, unknown> = {},
    before: (ns: string) => Promise<void> = async () => {},
  ) {
    const ns = await newNamespace(client, prefix);
    await before(ns);
    const routing = extra.trafficRouting as { gatewayAPI?: { httpRoute?: string } } | undefined;
    const gateway = routing?.gatewayAPI;
    const p = new Podinfo(client, ns, gateway ? (gateway.httpRoute ?? "podinfo") : undefined);
    ok(
      await client.create(paths.deployments(ns), deploymentManifest(ns, "podinfo", 2)),
      "deployment",
    );
    ok(
      await client.create(
        paths.rollouts(ns),
        rolloutManifest(ns, "podinfo", {
          targetRef: { name: "podinfo" },
          service: { port: 9898 },
          steps,
          ...extra,
        }),
      ),
      "rollout",
    );
    return p;
  }

  async rollout(): Promise<RolloutJson> {
    return ok(
      await this.client.get<RolloutJson>(`${paths.rollouts(this.ns)}/podinfo`),
      "get rollout",
    );
  }

  phase(wanted: string, timeoutMs = 30_000): Promise<RolloutJson> {
    return eventually(
      `${this.ns}/podinfo to be ${wanted}`,
      async () => {
        const r = await this.rollout();
        return r.status?.phase === wanted ? r : undefined;
      },
      timeoutMs,
    );
  }

  /** Waits for Healthy at a stable revision other than `before`'s: the promotion done. */
  promoted(before: RolloutJson, timeoutMs = 60_000): Promise<RolloutJson> {
    return eventually(
      `${this.ns}/podinfo promoted`,
      async () => {
        const r = await this.rollout();
        return r.status?.phase === "Healthy" &&
          r.status.stableRevision !== before.status?.stableRevision
          ? r
          : undefined;
      },
      timeoutMs,
    );
  }

  /**
   * A new pod template; null takes the template back to the one it was created with. `behaviour`
   * adds annotations to it, such as the simulator's fledge.dev/sim-success-rate.
   */
  async newRevision(value: string | null, behaviour: Record<string, string> = {}): Promise<void> {
    ok(
      await this.client.patch(`${paths.deployments(this.ns)}/podinfo`, {
        spec: {
          template: {
            metadata: { annotations: { "example.com/revision": value, ...behaviour } },
          },
        },
      }),
      "new revision",
    );
  }

  async annotate(annotations: Record<string, string | null>): Promise<void> {
    ok(
      await this.client.patch(`${paths.rollouts(this.ns)}/podinfo`, { metadata: { annotations } }),
      "annotate",
    );
  }

  async replicas(name: string): Promise<number | undefined> {
    const got = await this.client.get<{ spec: { replicas: number } }>(
      `${paths.deployments(this.ns)}/${name}`,
    );
    return got.ok ? got.value.spec.replicas : undefined;
  }

  /** The canary's weight as the route says it: the TrafficSplit's, or the HTTPRoute's rule's. */
  async weight(): Promise<number | undefined> {
    return (await this.traffic())?.canaryWeight;
  }

  async traffic(): Promise<{ canaryWeight: number; mirrorPercent: number } | undefined> {
    if (this.httpRoute) {
      const got = await this.client.get(`${paths.httpRoutes(this.ns)}/${this.httpRoute}`);
      const view = got.ok ? routeView(got.value) : undefined;
      return view && trafficOf(view, PODINFO_ROUTE);
    }
    const got = await this.client.get(`${paths.splits(this.ns)}/podinfo`);
    const split = got.ok ? splitView(got.value) : undefined;
    return split && { canaryWeight: canaryPercent(split, "podinfo-canary"), mirrorPercent: 0 };
  }

  /**
   * Samples the split's canary weight every 25 ms, keeping each change and the Date.now() it was
   * first seen at, until stopped.
   */
  recordWeights() {
    const seen: number[] = [];
    const at: number[] = [];
    let running = true;
    const sample = async () => {
      const w = await this.weight();
      if (w !== undefined && seen[seen.length - 1] !== w) {
        seen.push(w);
        at.push(Date.now());
      }
    };
    const loop = (async () => {
      while (running) {
        await sample();
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    return {
      seen,
      at,
      // One read more, sent after whatever the caller waited for: a sample on the wire when the
      // split's last write landed would otherwise end the record one move short (CI saw 0, 20,
      // 60 for a promotion whose split was back at 0 before status said Healthy).
      stop: async () => {
        running = false;
        await loop;
        await sample();
      },
    };
  }
}
