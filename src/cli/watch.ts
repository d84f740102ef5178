import { type CliRollout, finished } from "./render.ts";

// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes are what this strips
const ESCAPES = /\u001b\[[0-9;]*[A-Za-z]/g;

/** Terminal rows a frame takes: long lines wrap, and every wrapped part is a row to go back over. */
export function rowsOf(frame: string, columns: number): number {
  const lines = frame.endsWith("\n") ? frame.slice(0, -1).split("\n") : frame.split("\n");
  return lines.reduce(
    (rows, line) => rows + Math.max(1, Math.ceil(line.replace(ESCAPES, "").length / columns)),
    0,
  );
}

export type Terminal = { columns: number; rows: number };

/**
 * What to write to show `next` where `previous` was: on a terminal, go back to the start of the
 * previous frame and clear from there down, so the view updates in place and the scrollback
 * above it stays. A frame taller than the screen has scrolled its top away, where the cursor
 * cannot go back to, so the screen is cleared instead. Elsewhere (a pipe, a log) frames follow
 * one another, a blank line apart.
 */
export function redraw(
  previous: string | undefined,
  next: string,
  terminal: Terminal | undefined,
): string {
  if (previous === undefined) return next;
  if (!terminal) return `\n${next}`;
  const rows = rowsOf(previous, terminal.columns);
  return rows < terminal.rows ? `\u001b[${rows}F\u001b[J${next}` : `\u001b[H\u001b[J${next}`;
}

/**
 * When --watch is done: once the rollout rests (Healthy, Failed, Aborted) after moving. A rollout
 * already at rest when the watch starts is followed through its next rollout, so a person can
 * start watching and then push the new revision.
 */
export function untilSettled(first: CliRollout): (rollout: CliRollout) => boolean {
  let moved = !finished(first);
  const stable = first.status?.stableRevision;
  return (r) => {
    if (!finished(r) || r.status?.stableRevision !== stable) moved = true;
    return moved && finished(r);
  };
}
