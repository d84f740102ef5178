import { pino } from "pino";

export type Logger = pino.Logger;

/** JSON lines on stdout; every line about a rollout carries its namespace and name (see forRollout). */
export function createLogger(
  level: string = process.env.LOG_LEVEL ?? "info",
  component = "fledge",
): Logger {
  return pino({ level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime });
}

export function forRollout(logger: Logger, namespace: string, name: string): Logger {
  return logger.child({ namespace, name, rollout: `${namespace}/${name}` });
}

/** A logger that writes nothing, for tests of code that takes one. */
export const silentLogger: Logger = pino({ level: "silent" });
