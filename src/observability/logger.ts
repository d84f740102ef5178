import { pino } from "pino";

export type Logger = pino.Logger;

/**
 * JSON lines on stdout; every line about a rollout carries its namespace and name (see forRollout).
 * `sync` writes each line before returning, for a process that may die by SIGKILL with lines
 * still buffered (the crash switch); the default buffers, as a controller under load should.
 */
export function createLogger(
  level: string = process.env.LOG_LEVEL ?? "info",
  component = "fledge",
  sync = false,
): Logger {
  const options = { level, base: { component }, timestamp: pino.stdTimeFunctions.isoTime };
  return sync ? pino(options, pino.destination({ dest: 1, sync })) : pino(options);
}

export function forRollout(logger: Logger, namespace: string, name: string): Logger {
  return logger.child({ namespace, name, rollout: `${namespace}/${name}` });
}

/** A logger that writes nothing, for tests of code that takes one. */
export const silentLogger: Logger = pino({ level: "silent" });
