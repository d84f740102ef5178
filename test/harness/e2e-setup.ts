/**
 * Global setup of the e2e tier (vitest project `e2e`, test/e2e/**): one control plane (as in the
 * integration tier), the traffic simulator and a real Prometheus scraping it every second, shared
 * by every file of the tier. Tests use a namespace of their own each, and get through `inject()`:
 *
 * - `kubeconfig`, `apiserverUrl`: as in the integration tier, so test/integration/support works
 *   unchanged (adminClient(), withController(), Podinfo ...).
 * - `prometheusUrl`: the shared Prometheus (http://127.0.0.1:PORT), for --prometheus-address.
 * - `simulatorMetricsUrl`: the simulator's /metrics. A test that stops Prometheus mid-analysis
 *   starts one of its own on it, leaving the shared one alone:
 *     const prometheus = await startPrometheus({ targets: [inject("simulatorMetricsUrl")] });
 *     await prometheus.stop(); ... await prometheus.start(); ... await prometheus.close();
 *
 * The control plane serves Fledge's CRDs and the Gateway API's standard channel (gateway-api.ts).
 * The simulator sends SIMULATOR_RPS requests a second to every apex Service with a TrafficSplit
 * and to every Service that is the parent of an HTTPRoute in its own namespace (parentRefs
 * `{group: "", kind: Service, name}`), in every namespace, and serves TrafficMetrics at
 * /apis/metrics.smi-spec.io/v1alpha1 through the apiserver. A Deployment's pod-template
 * annotations fledge.dev/sim-success-rate ("0.9") and fledge.dev/sim-latency-ms
 * ("p50=10,p99=50") say how its requests are answered.
 *
 * HTTPRoutes (gateway.networking.k8s.io/v1) are followed as a GAMMA mesh follows them, before
 * any TrafficSplit of the same Service: the rule whose match holds with the Gateway API's
 * precedence (Exact path, RegularExpression path, longest PathPrefix, method, more headers; then
 * the older route and the first rule), a backendRef by weight (default 1), then that Service's
 * selector; a request no rule matches is unroutable (404). A RequestMirror filter (`percent`, or
 * `fraction`, or neither for all) also sends that share of the rule's requests to its backendRef:
 * the copy is served and counted by the mirror Deployment's mesh metrics and TrafficMetrics,
 * its answer dropped; fledge_sim_requests_total says mirrored="true" for copies and names the
 * `route` (or `split`) that routed each request. A share of requests (matchShare) is made to
 * satisfy each rule's matches. The simulator writes each such route's status.parents entry
 * (controllerName fledge.dev/simulated-mesh; Accepted, and ResolvedRefs False/BackendNotFound
 * for a missing backend Service), only when it changes, and leaves other controllers' entries.
 * The Service annotation fledge.dev/sim-refuse-routes: REASON (e.g. NotAllowedByListeners)
 * makes it refuse the Service's routes: Accepted=False with that reason, and requests to the
 * Service go as if no route existed. Gateway parents are not followed.
 */
import type { TestProject } from "vitest/node";
import { FLEDGE_CRD_DIR, startControlPlane } from "./control-plane.ts";
import { ensureGatewayApiCrds } from "./gateway-api.ts";
import { type Prometheus, startPrometheus } from "./prometheus.ts";
import { startSimulator } from "./simulator/simulator.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** The e2e tier's Prometheus, http://127.0.0.1:PORT, scraping the simulator every second. */
    prometheusUrl: string;
    /** The simulator's /metrics URL, for a Prometheus of a test's own. */
    simulatorMetricsUrl: string;
  }
}

export const SIMULATOR_RPS = 50;

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const controlPlane = await startControlPlane({
    crdDirs: [FLEDGE_CRD_DIR, await ensureGatewayApiCrds()],
  });
  const stops: (() => Promise<void>)[] = [() => controlPlane.stop()];
  const stop = async () => {
    for (const step of stops.reverse()) await step();
  };
  try {
    const started = await startSimulator({
      kubeConfig: controlPlane.kubeConfig,
      tls: controlPlane.servingCertificate,
      rps: SIMULATOR_RPS,
      seed: process.env.FLEDGE_SIM_SEED,
    });
    if (!started.ok) throw new Error(started.reason);
    stops.push(() => started.simulator.stop());
    const prometheus: Prometheus = await startPrometheus({
      targets: [started.simulator.metricsUrl],
    });
    stops.push(() => prometheus.close());
    project.provide("kubeconfig", controlPlane.kubeconfigPath);
    project.provide("apiserverUrl", controlPlane.url);
    project.provide("prometheusUrl", prometheus.url);
    project.provide("simulatorMetricsUrl", started.simulator.metricsUrl);
  } catch (error) {
    await stop();
    throw error;
  }
  return stop;
}
