// The controller a file's tests share, on the tier's Prometheus.

import { inject } from "vitest";
import { withController } from "../../integration/support/rollouts.ts";

/** A file's controller and admin client, with the tier's Prometheus as its default address. */
export const controllerOnPrometheus = (logLevel?: string) =>
  withController(() => ["--prometheus-address", inject("prometheusUrl")], logLevel);
