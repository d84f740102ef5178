import { z } from "zod";
import { ObjectMeta } from "../api/common.ts";
import { API_VERSION } from "../api/rollout.ts";
import { digestOf, type HistoryDigest } from "./history.ts";

/**
 * A Rollout as the cache keeps it: metadata, and spec and status still unparsed, so that a
 * malformed spec reaches the reconciler (which reports it) instead of vanishing in the informer.
 */
export type RolloutObject = {
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation: number;
    resourceVersion: string;
    annotations: Record<string, string>;
    finalizers: string[];
    /** Which of two Rollouts whose selectors overlap is the older, and so keeps working. */
    creationTimestamp?: string;
    deletionTimestamp?: string;
  };
  spec: unknown;
  /** Status without its history, which only the dashboard reads whole. */
  status: Record<string, unknown> | undefined;
  /** What a status write needs of status.history to extend it. */
  history: HistoryDigest;
};

const Raw = z.looseObject({
  apiVersion: z.literal(API_VERSION),
  metadata: ObjectMeta,
  spec: z.unknown(),
  status: z.record(z.string(), z.unknown()).optional(),
});

export function rolloutObject(raw: unknown): RolloutObject | undefined {
  const parsed = Raw.safeParse(raw);
  if (!parsed.success) return undefined;
  const m = parsed.data.metadata;
  return {
    metadata: {
      name: m.name,
      namespace: m.namespace ?? "",
      uid: m.uid ?? "",
      generation: m.generation ?? 0,
      resourceVersion: m.resourceVersion ?? "",
      annotations: Object.fromEntries(
        Object.entries(m.annotations ?? {}).filter(([k]) => k.startsWith("fledge.dev/")),
      ),
      finalizers: m.finalizers ?? [],
      creationTimestamp: m.creationTimestamp,
      deletionTimestamp: m.deletionTimestamp,
    },
    spec: parsed.data.spec,
    ...withoutHistory(parsed.data.status),
  };
}

function withoutHistory(raw: Record<string, unknown> | undefined) {
  if (raw === undefined) return { status: undefined, history: digestOf(undefined) };
  const { history, ...status } = raw;
  return { status, history: digestOf(history) };
}

/** The reason SpecValid is False in the status, if it is. */
export function specValidProblem(r: RolloutObject): string | undefined {
  const conditions = r.status?.conditions;
  if (!Array.isArray(conditions)) return undefined;
  const c = (conditions as { type?: string; status?: string; reason?: string }[]).find(
    (x) => x.type === "SpecValid",
  );
  return c?.status === "False" ? c.reason : undefined;
}

/** The autoscaler a Rollout's spec names, read before the spec is parsed (a bad one names none). */
export function autoscalerOf(r: RolloutObject): string | undefined {
  const name = (r.spec as { autoscalerRef?: { name?: unknown } } | undefined)?.autoscalerRef?.name;
  return typeof name === "string" ? name : undefined;
}
