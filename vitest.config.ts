import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          // The tiers run one after another: the CPU-bound unit tests (statechart exploration,
          // property walks) keep their timing, and the tiers' control planes, simulator and
          // Prometheus do not compete for the same cores.
          sequence: { groupOrder: 0 },
          // A limit that finds hangs, not slowness: the statechart explorations and property walks
          // are CPU-bound, take seconds, and several times as long on a loaded 2-core machine (one
          // took 5.5 s against Vitest's default 5 s while another build ran beside it).
          testTimeout: 120_000,
        },
      },
      {
        test: {
          name: "integration",
          include: ["test/integration/**/*.test.ts"],
          sequence: { groupOrder: 1 },
          // The global setup builds the control-plane binaries on a machine's first run (about
          // 5 minutes on 2 cores); Vitest gives global setup no timeout of its own.
          globalSetup: ["test/harness/global-setup.ts"],
          // Tests wait on real controllers and may start a control plane of their own.
          testTimeout: 60_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          sequence: { groupOrder: 2 },
          // Control plane, traffic simulator and Prometheus for the whole tier.
          globalSetup: ["test/harness/e2e-setup.ts"],
          // Rollouts step on real metrics, and the demo runs for minutes.
          testTimeout: 180_000,
          hookTimeout: 120_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
