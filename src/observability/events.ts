import { randomBytes } from "node:crypto";
import { API_VERSION, KIND } from "../api/rollout.ts";
import type { KubeClient } from "../kube/client.ts";
import type { Notice } from "../machine/context.ts";
import type { Logger } from "./logger.ts";

export type EventSubject = {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion?: string;
};

/**
 * One Event per reason per reconcile: two steps passed in one go (a weight and the pause after
 * it) become one StepAdvanced Event saying both, which halves the Events a rollout writes
 * without merging different decisions under one reason.
 */
export function coalesce(notices: readonly Notice[]): Notice[] {
  const out: Notice[] = [];
  for (const n of notices) {
    const same = out.find((o) => o.reason === n.reason && o.type === n.type);
    if (same) same.message = `${same.message}; ${n.message}`;
    else out.push({ ...n });
  }
  return out;
}

/** Kubernetes Events about Rollouts (core/v1, what `kubectl describe` shows); a lost Event is logged, never fatal. */
export class EventRecorder {
  private readonly client: KubeClient;
  private readonly logger: Logger;
  private readonly instance: string;

  constructor(client: KubeClient, logger: Logger, instance: string) {
    this.client = client;
    this.logger = logger;
    this.instance = instance;
  }

  async record(subject: EventSubject, notice: Notice, now: Date = new Date()): Promise<void> {
    const time = now.toISOString();
    const result = await this.client.create(`/api/v1/namespaces/${subject.namespace}/events`, {
      apiVersion: "v1",
      kind: "Event",
      metadata: {
        name: `${subject.name}.${randomBytes(8).toString("hex")}`,
        namespace: subject.namespace,
      },
      involvedObject: {
        apiVersion: API_VERSION,
        kind: KIND,
        name: subject.name,
        namespace: subject.namespace,
        uid: subject.uid,
        resourceVersion: subject.resourceVersion,
      },
      type: notice.type,
      reason: notice.reason,
      message: notice.message.slice(0, 1024),
      source: { component: "fledge", host: this.instance },
      reportingComponent: "fledge.dev/controller",
      reportingInstance: this.instance,
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
    });
    if (!result.ok) {
      this.logger.warn(
        {
          namespace: subject.namespace,
          name: subject.name,
          reason: notice.reason,
          error: result.error,
        },
        "could not record event",
      );
    }
  }
}
