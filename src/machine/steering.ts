import { ANNOTATIONS, ONE_SHOT_ACTIONS, type OneShotAction } from "../api/rollout.ts";
import { ACTION_EVENTS, type Context, type RolloutEvent } from "./context.ts";

const EVENT_OF = Object.fromEntries(
  Object.entries(ACTION_EVENTS).map(([type, action]) => [action, type]),
) as Record<OneShotAction, keyof typeof ACTION_EVENTS>;

/**
 * A person's annotations as events. The pause annotation is a level (present or not); one-shot
 * actions become events only when their value differs from the one status says was applied, so
 * each is applied exactly once however often the rollout is reconciled.
 */
export function steeringEvents(
  annotations: Record<string, string> | undefined,
  applied: Context["applied"],
  now: number,
): RolloutEvent[] {
  const a = annotations ?? {};
  const events: RolloutEvent[] = [{ type: "PAUSE", paused: a[ANNOTATIONS.pause] === "true", now }];
  for (const action of ONE_SHOT_ACTIONS) {
    const id = a[ANNOTATIONS[action]];
    if (id !== undefined && id !== "" && id !== applied[action])
      events.push({ type: EVENT_OF[action], id, now });
  }
  return events;
}
