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

/**
 * What to write to show `next` where `previous` was: on a terminal, go back to the start of the
 * previous frame and clear from there down, so the view updates in place and the scrollback
 * above it stays; elsewhere (a pipe, a log) frames follow one another, a blank line apart.
 */
export function redraw(
  previous: string | undefined,
  next: string,
  terminal: { columns: number } | undefined,
): string {
  if (previous === undefined) return next;
  if (!terminal) return `\n${next}`;
  return `\u001b[${rowsOf(previous, terminal.columns)}F\u001b[J${next}`;
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
