import type { HistoryEntry, RolloutStatus } from "../api/rollout.ts";

/** How many moves and checks status keeps unless the controller is told otherwise. */
export const HISTORY_LIMIT = 50;

type Standing = Omit<HistoryEntry, "at" | "checkedAt" | "checks">;

const standing = (status: RolloutStatus): Standing => ({
  revision: status.canaryRevision,
  phase: status.phase ?? "Initializing",
  step: status.currentStepIndex,
  weight: status.canaryWeight ?? 0,
  pauses: status.pauseReasons?.length ? status.pauseReasons.map((p) => p.reason) : undefined,
});

const sameStanding = (a: Standing, b: Standing) =>
  a.revision === b.revision &&
  a.phase === b.phase &&
  a.step === b.step &&
  a.weight === b.weight &&
  (a.pauses ?? []).join() === (b.pauses ?? []).join();

/**
 * Whether status holds a check the history has not recorded. Checks are told apart by when they
 * were judged; when the bound has pushed every earlier check out, one judged before the oldest
 * entry is one already seen.
 */
function newCheck(history: readonly HistoryEntry[], checkedAt: string | undefined): boolean {
  if (checkedAt === undefined) return false;
  const last = history.findLast((e) => e.checkedAt !== undefined);
  if (last) return last.checkedAt !== checkedAt;
  const [oldest] = history;
  return oldest === undefined || checkedAt > oldest.at;
}

/**
 * The history after a status write: one entry more when the rollout moved (revision, phase, step,
 * weight or pauses) or a check was judged, the oldest dropped beyond `limit`. It reads only the
 * fields the machine decides, never what it observed of the cluster, so it changes only when
 * status changes anyway and costs no write of its own; and it is read back from status, so a
 * restarted controller carries it on.
 */
export function extendHistory(
  previous: readonly HistoryEntry[] | undefined,
  status: RolloutStatus,
  now: string,
  limit: number,
): HistoryEntry[] {
  const history = previous ?? [];
  const next = standing(status);
  const checkedAt = status.metrics?.[0]?.checkedAt;
  const checked = newCheck(history, checkedAt);
  const last = history.at(-1);
  if (!checked && last && sameStanding(last, next)) return [...history];
  const entry: HistoryEntry = checked
    ? {
        at: now,
        ...next,
        checkedAt,
        checks: (status.metrics ?? []).map((m) => ({
          name: m.name,
          outcome: m.outcome,
          value: m.value,
        })),
      }
    : { at: now, ...next };
  return [...history, entry].slice(-limit);
}
