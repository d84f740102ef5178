import { initialTransition, pathToStateValue, type SnapshotFrom, transition } from "xstate";
import { z } from "zod";
import { describeIssues, type Parsed } from "../api/parse.ts";
import { Context, type Notice, type RolloutEvent } from "./context.ts";
import { rolloutMachine } from "./machine.ts";
import type { Plan } from "./plan.ts";

export type RolloutSnapshot = SnapshotFrom<typeof rolloutMachine>;

/** The machine as status keeps it: the active state's path and the context, nothing else. */
export const PersistedMachine = z.object({
  version: z.literal(1),
  state: z.string().min(1),
  context: Context,
});
export type PersistedMachine = z.infer<typeof PersistedMachine>;

export type Step = { snapshot: RolloutSnapshot; notices: Notice[] };

function noticesOf(actions: ReadonlyArray<{ type: string; params?: unknown }>): Notice[] {
  return actions
    .filter((a) => a.type === "xstate.emit")
    .map((a) => (a.params as { event: Notice }).event);
}

export function start(plan: Plan, now: number): RolloutSnapshot {
  return initialTransition(rolloutMachine, { plan, now })[0];
}

function knownState(path: string[]): boolean {
  try {
    return (
      rolloutMachine.getStateNodeById(`${rolloutMachine.id}.${path.join(".")}`).type === "atomic"
    );
  } catch {
    return false;
  }
}

/** One event through the machine: the next snapshot and the Events it asks for. */
export function send(snapshot: RolloutSnapshot, event: RolloutEvent): Step {
  const [next, actions] = transition(rolloutMachine, snapshot, event);
  return { snapshot: next, notices: noticesOf(actions as never) };
}

export function statePath(snapshot: RolloutSnapshot): string {
  return snapshot._nodes
    .filter((n) => n.type === "atomic")
    .map((n) => n.path.join("."))
    .join(",");
}

export function persist(snapshot: RolloutSnapshot): PersistedMachine {
  return { version: 1, state: statePath(snapshot), context: snapshot.context };
}

export function restore(value: unknown): Parsed<RolloutSnapshot> {
  const parsed = PersistedMachine.safeParse(value);
  if (!parsed.success)
    return { ok: false, error: `status.machine: ${describeIssues(parsed.error)}` };
  const path = parsed.data.state.split(".");
  if (!knownState(path)) {
    return { ok: false, error: `status.machine.state: unknown state "${parsed.data.state}"` };
  }
  return {
    ok: true,
    value: rolloutMachine.resolveState({
      value: pathToStateValue(path),
      context: parsed.data.context,
    }),
  };
}
