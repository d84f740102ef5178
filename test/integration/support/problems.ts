import { afterAll } from "vitest";
import type { KubeClient } from "../../../src/kube/client.ts";
import { eventually, ok, paths } from "./cluster.ts";
import type { RolloutJson } from "./rollouts.ts";

type Condition = NonNullable<NonNullable<RolloutJson["status"]>["conditions"]>[number];

type EventList = {
  items: { reason: string; type: string; message: string; involvedObject: { name: string } }[];
};

type DeploymentList = {
  items: {
    metadata: { name: string; generation: number };
    spec: { replicas: number };
    status?: {
      observedGeneration?: number;
      replicas?: number;
      updatedReplicas?: number;
      availableReplicas?: number;
      conditions?: { type: string; reason: string }[];
    };
  }[];
};

/** A problem's clearing: which reason, and how long after its cause was removed. */
export type Recovery = { reason: string; ms: number };

/**
 * A problem the controller reports on a Rollout, seen as a person would (SpecValid False with
 * the reason, a Warning Event), and its clearing, timed from the removal of its cause.
 */
export class Problems {
  readonly recoveries: Recovery[] = [];
  private readonly clientOf: () => KubeClient;

  /** The client is asked for at each use: a test file makes it in its beforeAll. */
  constructor(client: () => KubeClient) {
    this.clientOf = client;
    afterAll(() => {
      const times = this.recoveries.map((r) => `${r.reason} ${r.ms} ms`);
      console.info(`recovery after the cause went away: ${times.join(", ")}`);
    });
  }

  private get client(): KubeClient {
    return this.clientOf();
  }

  async specValid(ns: string, name: string): Promise<Condition | undefined> {
    const r = ok(await this.client.get<RolloutJson>(`${paths.rollouts(ns)}/${name}`), "rollout");
    return r.status?.conditions?.find((c) => c.type === "SpecValid");
  }

  /** Waits for SpecValid False with the reason and for its Warning Event; returns the condition. */
  async reported(ns: string, name: string, reason: string): Promise<Condition> {
    const condition = await eventually(`SpecValid False ${reason} on ${ns}/${name}`, async () => {
      const c = await this.specValid(ns, name);
      return c?.status === "False" && c.reason === reason ? c : undefined;
    });
    await eventually(`a ${reason} Event for ${ns}/${name}`, async () => {
      const events = ok(await this.client.get<EventList>(paths.events(ns)), "events").items;
      return events.some(
        (e) => e.reason === reason && e.type === "Warning" && e.involvedObject.name === name,
      )
        ? true
        : undefined;
    });
    return condition;
  }

  /**
   * Removes the cause once nothing else in the namespace is moving, so that only the removal's
   * own events can wake the Rollout, and times SpecValid turning True (or to the problem `next`
   * that the removed one hid). The limit is for a hang: with no wake-up the problem would stay,
   * as no timer looks again.
   */
  async clears(
    ns: string,
    name: string,
    reason: string,
    remove: () => Promise<unknown>,
    next?: string,
  ) {
    await this.settled(ns);
    const started = performance.now();
    await remove();
    await eventually(
      `${reason} on ${ns}/${name} to clear`,
      async () => {
        const c = await this.specValid(ns, name);
        return (next === undefined ? c?.status === "True" : c?.reason === next) ? true : undefined;
      },
      30_000,
    );
    const ms = Math.round(performance.now() - started);
    this.recoveries.push({ reason, ms });
    console.info(`${reason} cleared ${ms} ms after its cause was removed`);
  }

  /** Waits for the Rollout to be valid and serving again, as after its problem. */
  serving(ns: string, name: string) {
    return eventually(`${ns}/${name} valid and serving`, async () => {
      const r = ok(await this.client.get<RolloutJson>(`${paths.rollouts(ns)}/${name}`), "rollout");
      const c = r.status?.conditions ?? [];
      const valid = c.some((x) => x.type === "SpecValid" && x.status === "True");
      const ready = c.some((x) => x.type === "Ready" && x.reason === "Serving");
      return valid && ready && r.status?.phase === "Healthy" ? r : undefined;
    });
  }

  /** Every Deployment of the namespace rolled out and its status final: no event left to come. */
  private settled(ns: string) {
    return eventually(
      `the Deployments of ${ns} to settle`,
      async () => {
        const list = ok(await this.client.get<DeploymentList>(paths.deployments(ns)), "list");
        return list.items.every((d) => {
          const s = d.status ?? {};
          return (
            s.observedGeneration === d.metadata.generation &&
            [s.replicas, s.updatedReplicas, s.availableReplicas].every(
              (n) => (n ?? 0) === d.spec.replicas,
            ) &&
            (s.conditions ?? []).some(
              (c) => c.type === "Progressing" && c.reason === "NewReplicaSetAvailable",
            )
          );
        })
          ? true
          : undefined;
      },
      60_000,
    );
  }
}
