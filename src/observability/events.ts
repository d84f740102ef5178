import { randomBytes } from "node:crypto";
import { API_VERSION, KIND } from "../api/rollout.ts";
import type { KubeClient } from "../kube/client.ts";
import { outsideFence } from "../kube/fence.ts";
import type { Notice } from "../machine/context.ts";
import type { Logger } from "./logger.ts";

export type EventSubject = {
  name: string;
  namespace: string;
  uid: string;
  resourceVersion?: string;
};

/**
 * What one reconcile tells people. Its Normal notices are one move of the rollout, so they make one
 * Event, named by the notice that started the move and saying all it did ("CanaryReady: canary
 * r2 is ready; step 1/6: canary weight 20%; step 2/6: pause 10s"): a rollout writes one Event per
 * move, not one per notice. Warnings are each something a person may act on, so they stay apart
 * (one per reason).
 */
export function coalesce(notices: readonly Notice[]): Notice[] {
  const out: Notice[] = [];
  for (const n of notices) {
    const same = out.find(
      (o) => o.type === n.type && (n.type === "Normal" || o.reason === n.reason),
    );
    if (same) same.message = `${same.message}; ${n.message}`;
    else out.push({ ...n });
  }
  return out;
}

// Events go out beside the reconciles, not inside them: no worker waits on an Event, and a burst
// (a thousand rollouts stepping at once) is sent sixteen at a time, so it does not crowd out the
// writes that move traffic. Four at a time fell minutes behind at N=1000.
const IN_FLIGHT = 16;

/** Kubernetes Events about Rollouts (core/v1, what `kubectl describe` shows); a lost Event is logged, never fatal. */
export class EventRecorder {
  private readonly client: KubeClient;
  private readonly logger: Logger;
  private readonly instance: string;
  private readonly waiting: (() => Promise<void>)[] = [];
  private readonly sending = new Set<Promise<void>>();

  constructor(client: KubeClient, logger: Logger, instance: string) {
    this.client = client;
    this.logger = logger;
    this.instance = instance;
  }

  /** Queues the Event; flush() waits until every queued one is sent. */
  record(subject: EventSubject, notice: Notice, now: Date = new Date()): void {
    this.waiting.push(() => this.send(subject, notice, now));
    // Sent for whichever reconcile frees a slot: none of them may lend its shard's fence.
    outsideFence(() => this.pump());
  }

  async flush(): Promise<void> {
    while (this.sending.size > 0) await Promise.all(this.sending);
  }

  private pump(): void {
    while (this.sending.size < IN_FLIGHT) {
      const next = this.waiting.shift();
      if (!next) return;
      const sent: Promise<void> = next().finally(() => {
        this.sending.delete(sent);
        this.pump();
      });
      this.sending.add(sent);
    }
  }

  private async send(subject: EventSubject, notice: Notice, now: Date): Promise<void> {
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
