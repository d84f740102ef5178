import { z } from "zod";
import { Duration, durationMs } from "../api/common.ts";

/**
 * One reading of a metric (or answer of a webhook) from `from` on, until the next entry: a value
 * (with the requests behind it), no data, an error, or for a webhook a refusal. An entry with
 * none of them passes.
 */
export const Reading = z
  .object({
    from: Duration,
    value: z.number().optional(),
    requests: z.number().min(0).optional(),
    noData: z.literal(true).optional(),
    /** true, or the provider's reason. */
    error: z.union([z.literal(true), z.string()]).optional(),
    /** A webhook's non-2xx answer. */
    fail: z.literal(true).optional(),
  })
  .strict();
export type Reading = z.infer<typeof Reading>;

/** A person's annotation at a time: the pause level set or lifted, or one one-shot action. */
export const Action = z
  .object({
    at: Duration,
    pause: z.boolean().optional(),
    resume: z.literal(true).optional(),
    promote: z.literal(true).optional(),
    promoteFull: z.literal(true).optional(),
    abort: z.literal(true).optional(),
    retry: z.literal(true).optional(),
  })
  .strict()
  .refine((a) => Object.keys(a).length === 2, { error: "an action does exactly one thing" });
export type Action = z.infer<typeof Action>;

/** Times are from the moment the new revision appears on the target. */
export const Scenario = z
  .object({
    /** By metric or webhook name (rollout, pre-rollout and confirm-promotion webhooks alike). */
    metrics: z.record(z.string(), z.array(Reading)).default({}),
    actions: z.array(Action).default([]),
    /** How long a Deployment takes to be ready at a new revision: the canary's and the primary's. */
    readyAfter: Duration.default("0s"),
  })
  .strict();
export type Scenario = z.infer<typeof Scenario>;

/** The entry in effect at a time: the last whose `from` has passed. */
export function readingAt(
  readings: readonly Reading[] | undefined,
  at: number,
): Reading | undefined {
  let found: Reading | undefined;
  for (const r of readings ?? []) if (durationMs(r.from) <= at) found = r;
  return found;
}
