import { ANNOTATIONS, type OneShotAction } from "../api/rollout.ts";
import type { CliRollout } from "./render.ts";

export type Command = "pause" | "resume" | "promote" | "promoteFull" | "abort" | "retry";

/** What a command writes: the annotations to merge (null removes one) and how to tell it took. */
export type Steering = {
  annotations: Record<string, string | null>;
  /** What was done, for the person: one phrase per annotation. */
  done: string[];
  /** True once the controller's status shows the command applied. */
  applied(rollout: CliRollout): boolean;
};

const personPaused = (r: CliRollout) =>
  (r.status?.pauseReasons ?? []).some((p) => p.reason === "Person");

function oneShot(action: OneShotAction, id: string): Steering {
  const annotation = ANNOTATIONS[action];
  return {
    annotations: { [annotation]: id },
    done: [`set ${annotation}=${id}`],
    applied: (r) => r.status?.appliedActions?.[action] === id,
  };
}

/**
 * The annotations for a command, per DESIGN.md: pause is a level (present while paused); the
 * others are one-shot values that change every time (id, a timestamp), which status records so
 * the controller applies each exactly once. Resume lifts a person's pause by removing the
 * annotation, and a step's or analysis's pause with the one-shot resume, so one command resumes
 * whatever holds the rollout.
 */
export function steering(command: Command, rollout: CliRollout, id: string): Steering {
  switch (command) {
    case "pause":
      return {
        annotations: { [ANNOTATIONS.pause]: "true" },
        done: [`set ${ANNOTATIONS.pause}=true`],
        applied: personPaused,
      };
    case "resume": {
      const held = (rollout.status?.pauseReasons ?? []).some((p) => p.reason !== "Person");
      const lift: Steering = {
        annotations: { [ANNOTATIONS.pause]: null },
        done: [`removed ${ANNOTATIONS.pause}`],
        applied: (r) => !personPaused(r),
      };
      if (!held) return lift;
      const resume = oneShot("resume", id);
      return {
        annotations: { ...lift.annotations, ...resume.annotations },
        done: [...lift.done, ...resume.done],
        applied: (r) => lift.applied(r) && resume.applied(r),
      };
    }
    default:
      return oneShot(command, id);
  }
}
