import { rolloutFromText, scenarioFromText } from "../simulate/input.ts";
import { renderTimeline } from "../simulate/render.ts";
import { simulate } from "../simulate/simulate.ts";
import { readSource } from "./files.ts";
import { type Format, formatted, type Io } from "./output.ts";

export type SimulateOptions = { metrics?: string | undefined; output?: Format | undefined };

/** `kubectl fledge simulate FILE [--metrics SCENARIO]`: no cluster, only the files. Exit 0 when it promotes. */
export async function simulateCommand(
  io: Io,
  file: string,
  options: SimulateOptions,
): Promise<number> {
  const fail = (error: string) => {
    io.err(`error: ${error}\n`);
    return 1;
  };
  const rolloutText = readSource(file);
  if (!rolloutText.ok) return fail(rolloutText.error);
  const scenarioText = options.metrics === undefined ? undefined : readSource(options.metrics);
  if (scenarioText && !scenarioText.ok) return fail(scenarioText.error);
  const rollout = rolloutFromText(rolloutText.text);
  if (!rollout.ok) return fail(rollout.error);
  const scenario = scenarioFromText(scenarioText?.text);
  if (!scenario.ok) return fail(scenario.error);
  const timeline = simulate(rollout.value.spec, rollout.value.plan, scenario.value);
  io.out(options.output ? formatted(timeline, options.output) : renderTimeline(timeline));
  return timeline.end.phase === "Healthy" && !timeline.end.held ? 0 : 1;
}
