/**
 * What a provider read for one metric over one window. `value` is undefined when the provider
 * answered but had nothing to say (an empty vector, NaN, no traffic yet); `requests` is undefined
 * when the provider cannot tell how many requests the value rests on (a user's own query).
 */
export type Reading = { value: number | undefined; requests: number | undefined };

/** A provider either read something or says, in words a person can act on, why it could not. */
export type ReadResult = { ok: true; reading: Reading } | { ok: false; reason: string };

export const read = (value: number | undefined, requests?: number): ReadResult => ({
  ok: true,
  reading: { value, requests },
});

export const unreadable = (reason: string): ReadResult => ({ ok: false, reason });

/** A provider's number, or undefined when it means "no data" (NaN and the infinities do). */
export function finite(value: number | undefined): number | undefined {
  return value !== undefined && Number.isFinite(value) ? value : undefined;
}

/** How many requests each of some Deployments served over the window, in their order. */
export type RequestCounts = { ok: true; counts: number[] } | { ok: false; reason: string };
