import { stringify } from "yaml";
import { COLOURS, type Paint, PLAIN } from "./render.ts";

export const FORMATS = ["json", "yaml"] as const;
export type Format = (typeof FORMATS)[number];

/** Where a command writes, so tests can run commands without a process or a terminal. */
export type Io = {
  out(text: string): void;
  err(text: string): void;
  /** Whether stdout is a terminal: colour and in-place redraws only then. */
  tty: boolean;
  paint: Paint;
};

/** Colour only on a terminal, and never when NO_COLOR is set to anything (no-color.org). */
export function processIo(): Io {
  const tty = process.stdout.isTTY === true;
  const colour = tty && !process.env.NO_COLOR;
  return {
    out: (text) => process.stdout.write(text),
    err: (text) => process.stderr.write(text),
    tty,
    paint: colour ? COLOURS : PLAIN,
  };
}

/** Machine-readable output: the objects as the apiserver returned them. */
export function formatted(value: unknown, format: Format): string {
  return format === "json" ? `${JSON.stringify(value, null, 2)}\n` : stringify(value);
}
