import { afterAll, beforeAll } from "vitest";
import type { KubeClient } from "../../../src/kube/client.ts";
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
export function withController() {
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
    world.controller = startController(world.kubeconfig, tmp.dir);
  });
  afterAll(async () => {
    await world.controller?.kill();
    if (!process.env.FLEDGE_KEEP_LOGS) tmp.remove();
  });
  return world;
}

/** The steps a test takes on podinfo and its Rollout in a namespace of its own. */
export class Podinfo {
  readonly client: KubeClient;
  readonly ns: string;

  private constructor(client: KubeClient, ns: string) {
    this.client = client;
    this.ns = ns;
  }

  /** A namespace with podinfo (2 replicas) and its Rollout, initialised and Healthy. */
  static async healthy(
    client: KubeClient,
    prefix: string,
    steps: Steps,
    extra: Record<string, unknown> = {},
  ) {
    const p = await Podinfo.create(client, prefix, steps, extra);
    const initial = await p.phase("Healthy");
    return { p, initial };
  }

  static async create(
    client: KubeClient,
    prefix: string,
    steps: Steps,
    extra: Record<string, unknown> = {},
  ) {
    const ns = await newNamespace(client, prefix);
    const p = new Podinfo(client, ns);
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

  /** A new pod template; null takes the template back to the one it was created with. */
  async newRevision(value: string | null): Promise<void> {
    ok(
      await this.client.patch(`${paths.deployments(this.ns)}/podinfo`, {
        spec: { template: { metadata: { annotations: { "example.com/revision": value } } } },
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

  async weight(): Promise<number | undefined> {
    const got = await this.client.get(`${paths.splits(this.ns)}/podinfo`);
    const split = got.ok ? splitView(got.value) : undefined;
    return split ? canaryPercent(split, "podinfo-canary") : undefined;
  }

  /**
   * Samples the split's canary weight every 25 ms, keeping each change and the Date.now() it was
   * first seen at, until stopped.
   */
  recordWeights() {
    const seen: number[] = [];
    const at: number[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const w = await this.weight();
        if (w !== undefined && seen[seen.length - 1] !== w) {
          seen.push(w);
          at.push(Date.now());
        }
        await new Promise((r) => setTimeout(r, 25));
      }
    })();
    return {
      seen,
      at,
      stop: async () => {
        running = false;
        await loop;
      },
    };
  }
}
