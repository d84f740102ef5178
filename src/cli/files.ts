import { readFileSync } from "node:fs";

/** Reads one named file, `-` being stdin; a file that cannot be read is a value, not a throw. */
export type ReadSource = (
  file: string,
) => { ok: true; text: string } | { ok: false; error: string };

/** The offline commands' files (lint's, simulate's), read whole. */
export const readSource: ReadSource = (file) => {
  try {
    return { ok: true, text: readFileSync(file === "-" ? 0 : file, "utf8") };
  } catch (e) {
    return { ok: false, error: `cannot read ${file}: ${(e as Error).message}` };
  }
};
