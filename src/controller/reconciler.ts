import { isDeepStrictEqual } from "node:util";
import type { Analyst } from "../analysis/analyst.ts";
import { resolveTemplates, type Sources, type TemplateCatalog } from "../analysis/templates.ts";
import { WEIGHT_CONDITION, weightCondition } from "../analysis/weight/condition.ts";
import { LABELS, type OwnerRollout, primaryName, REVISION_ANNOTATION } from "../api/names.ts";
import { parseAs } from "../api/parse.ts";
import {
  type RolloutSpec,
  RolloutSpec as RolloutSpecSchema,
  type RolloutStatus,
} from "../api/rollout.ts";
import type { AutoscalerView } from "../kube/autoscaler.ts";
import type { KubeClient } from "../kube/client.ts";
import type { DeploymentView } from "../kube/deployment.ts";

import type { ServiceView } from "../kube/service.ts";
import type { Notice, RolloutEvent } from "../machine/context.ts";
import type { Plan } from "../machine/plan.ts";
import { type RolloutSnapshot, send } from "../machine/snapshot.ts";
import { desiredOf, dueWork, phaseOf, stageOf, wakeAt } from "../machine/view.ts";
import type { EventRecorder } from "../observability/events.ts";
import { forRollout, type Logger } from "../observability/logger.ts";
import type { ControllerMetrics } from "../observability/metrics.ts";
import {
  beyondCapabilities,
  type Route,
  type Routers,
  routeOf,
  type TrafficRouter,
} from "../traffic/router.ts";
import { AnalysisStep } from "./analysis-step.ts";
import type { Apps } from "./apps.ts";
import { Autoscalers } from "./autoscalers.ts";
import { Finalizer } from "./finalize.ts";
import { extendHistory, HISTORY_LIMIT } from "./history.ts";
import { type AutoscalersSeen, judge } from "./judge.ts";
import { observations } from "./observations.ts";
import type { ReconcileResult } from "./queue.ts";
import {
  analysisSubject,
  falseConditionNotices,
  outcomeNotifications,
  Recorder,
  ROUTE_CONDITION,
} from "./record.ts";
import { type Problem, resume } from "./resume.ts";
import { type RolloutObject, rolloutObject } from "./rollout-object.ts";
import { Services } from "./services.ts";
import { type ConditionInput, pendingStatus, rolloutStatus } from "./status.ts";
import type { Store } from "./store.ts";
import { Workload } from "./workload.ts";
import { type Action, Conflict, Refused, rolloutPath, routeWritten } from "./writes.ts";

export type ReconcilerDeps = {
  client: KubeClient;
  rollouts: Store<RolloutObject>;
  deployments: Store<DeploymentView>;
  services: Store<ServiceView>;
  autoscalers: Store<AutoscalerView> & { list(): AutoscalerView[] };
  apps: Pick<Apps, "view">;
  routers: Routers;
  templates: TemplateCatalog;
  analyst: Analyst;
  events: EventRecorder;
  logger: Logger;
  now: () => number;
  metrics?: ControllerMetrics;
  /** How many moves and checks status keeps for the dashboard's timeline. */
  historyLimit?: number;
};

type TakenUp =
  | {
      ok: true;
      /** The spec with its templates' metrics and webhooks added. */
      spec: RolloutSpec;
      sources: Sources;
      target: DeploymentView;
      router: TrafficRouter;
      route: Route;
      owner: OwnerRollout;
      plan: Plan;
      snapshot: RolloutSnapshot;
    }
  | { ok: false; problem: Problem };

/** What one reconcile works on. */
type World = {
  spec: RolloutSpec;
  target: DeploymentView;
  primary: DeploymentView | undefined;
  route: Route;
  router: TrafficRouter;
  owner: OwnerRollout;
  log: Logger;
};

/**
 * One reconcile: read the Rollout, what it targets and what Fledge made for it; feed the machine
 * what changed; make the cluster match what the machine wants; write status when it differs.
 * Idempotent: an unchanged rollout writes nothing.
 */
export class Reconciler {
  private readonly deps: ReconcilerDeps;
  private readonly workload: Workload;
  private readonly recorder: Recorder;
  private readonly finalizer: Finalizer;
  private readonly analysis: AnalysisStep;
  private readonly services: Services;
  private readonly autoscalers: Autoscalers;

  constructor(deps: ReconcilerDeps) {
    this.deps = deps;
    this.workload = new Workload(deps.client, deps.deployments);
    this.recorder = new Recorder(deps);
    this.services = new Services(deps.client, deps.services);
    this.autoscalers = new Autoscalers(deps.client, deps.autoscalers);
    this.finalizer = new Finalizer(deps, this.workload, this.services);
    this.analysis = new AnalysisStep(deps.analyst, deps.metrics);
  }

  async reconcile(key: string): Promise<ReconcileResult> {
    const [namespace = "", name = ""] = key.split("/");
    let rollout = this.deps.rollouts.get(namespace, name);
    for (let attempt = 0; rollout && attempt < 5; attempt++) {
      try {
        return await this.once(rollout);
      } catch (e) {
        if (e instanceof Refused) {
          await this.recorder.refused(namespace, name, e);
          throw new Error(e.message);
        }
        if (!(e instanceof Conflict)) throw e;
        this.deps.logger.debug(
          { namespace, name, error: e.error.message },
          "conflict; reading the rollout again",
        );
        const fresh = await this.deps.client.get(rolloutPath(namespace, name));
        if (fresh.ok) this.deps.rollouts.remember(fresh.value);
        rollout = fresh.ok ? rolloutObject(fresh.value) : undefined;
      }
    }
    if (rollout) throw new Error(`rollout ${key} kept conflicting with other writers`);
    return {};
  }

  private async once(rollout: RolloutObject): Promise<ReconcileResult> {
    const { namespace, name } = rollout.metadata;
    const log = forRollout(this.deps.logger, namespace, name);
    const now = this.deps.now();
    const parsed = parseAs(RolloutSpecSchema, rollout.spec, "spec");
    if (!parsed.ok)
      return this.recorder.report(
        rollout,
        { reason: "InvalidSpec", message: parsed.error },
        log,
        now,
      );
    const own = parsed.value;
    if (rollout.metadata.deletionTimestamp) return this.finalizer.finalize(rollout, own, log);
    await this.finalizer.ensure(rollout);

    const taken = this.takeUp(rollout, own, now);
    if (!taken.ok) return this.recorder.report(rollout, taken.problem, log, now, own);
    const { spec, sources, target, router, route, owner, plan } = taken;
    const primaryOf = () => this.deps.deployments.get(namespace, primaryName(spec.targetRef.name));
    let snapshot = taken.snapshot;
    let current = rollout;
    const stageBefore = stageOf(snapshot);
    const subject = () =>
      analysisSubject(rollout, spec, {
        phase: phaseOf(snapshot),
        stepIndex: snapshot.context.stepIndex,
        canaryWeight: snapshot.context.canaryWeight,
        mirrorPercent: snapshot.context.mirrorPercent,
        weightHeldMs:
          snapshot.context.trafficSince === undefined
            ? undefined
            : now - snapshot.context.trafficSince,
      });
    const notices: Notice[] = [];
    const feed = (event: RolloutEvent) => {
      const step = send(snapshot, event);
      snapshot = step.snapshot;
      notices.push(...step.notices);
    };
    for (const event of observations(
      snapshot.context,
      {
        plan,
        target,
        primary: primaryOf(),
        traffic: router.observe(route).traffic,
        annotations: rollout.metadata.annotations,
      },
      now,
    )) {
      feed(event);
    }

    const due = dueWork(snapshot, now);
    if (due) feed(await this.analysis.run(due, subject(), sources, now, log));
    /**
     * Whether a controller that took up the status last written, finding this round's writes
     * done, would decide what this one has: then a crash after them loses no decision, and none
     * need be recorded ahead of them. Only writes the machine reads back as the decision done
     * qualify, and never after a check, whose result no later reconcile can read again.
     */
    const rederivable = (actions: Action[]) => {
      if (due || !actions.every((a) => a.replayable)) return false;
      const resumed = current.status && resume(spec, current.status.machine, now);
      if (!resumed?.ok) return false;
      const decided = desiredOf(snapshot);
      const traffic = actions.some((a) => a.routes)
        ? { canaryWeight: decided.canaryWeight, mirrorPercent: decided.mirrorPercent }
        : router.observe(route).traffic;
      // Both machines shown the cluster as it will be once the writes are done.
      const done = (from: RolloutSnapshot) => {
        let s = from;
        for (const event of observations(
          s.context,
          {
            plan,
            target: this.deps.deployments.get(namespace, spec.targetRef.name) ?? target,
            primary: primaryOf(),
            traffic,
            annotations: rollout.metadata.annotations,
          },
          now,
        ))
          s = send(s, event).snapshot;
        return s;
      };
      const [replay, ours] = [done(resumed.snapshot), done(snapshot)];
      return (
        stageOf(replay) === stageOf(ours) &&
        replay.context.stepIndex === ours.context.stepIndex &&
        isDeepStrictEqual(desiredOf(replay), desiredOf(ours))
      );
    };

    const readiness = await this.deps.analyst.readiness(subject());
    const extraConditions = (): ConditionInput[] => {
      const verdict = router.observe(route).verdict;
      const weight = weightCondition(spec, snapshot.context.results);
      return [
        ...(readiness ? [{ type: "AnalysisReady", ...readiness }] : []),
        ...(verdict ? [{ type: ROUTE_CONDITION, ...verdict }] : []),
        ...(weight ? [{ type: WEIGHT_CONDITION, ...weight }] : []),
      ];
    };
    // Write-ahead: every decision is in status before any of its effects reach the cluster, so a
    // controller that dies between two writes leaves a status at least as far on as the cluster,
    // and the next one carries the decision forward instead of reading the cluster's half-done
    // state as a reason to undo it (a primary already promoted, a canary already scaled down).
    // Only the machine goes ahead: the phase and conditions (a WriteRefused among them) change
    // once the writes are done, so no reader sees Healthy while traffic still goes to the canary.
    // A round with nothing to write records nothing ahead: its decisions wait for the one status
    // written at the end, as a crash before that loses nothing the cluster shows. Nor does a
    // round whose decisions a controller taking up the status already written would make again
    // on finding its writes done (see rederivable): a pause run out, a canary come ready.
    const record = async (settled: boolean) => {
      const previous = current.status as RolloutStatus | undefined;
      if (!settled) {
        current = await this.recorder.writeStatus(current, pendingStatus(snapshot, previous));
        return;
      }
      const status = rolloutStatus(
        snapshot,
        previous,
        current.metadata.generation,
        now,
        extraConditions(),
      );
      const at = new Date(now).toISOString();
      const limit = this.deps.historyLimit ?? HISTORY_LIMIT;
      current = await this.recorder.writeStatus(
        current,
        status,
        extendHistory(current.history, status, at, limit),
      );
    };

    // Our own writes are observations too: the split we just wrote is the split in effect. Each
    // round reads the caches afresh, which answer with what our writes returned.
    for (let round = 0; round < 4; round++) {
      const before = snapshot;
      const actions = this.actions(snapshot, {
        spec,
        target: this.deps.deployments.get(namespace, spec.targetRef.name) ?? target,
        primary: primaryOf(),
        route,
        router,
        owner,
        log,
      });
      if (actions.length === 0) break;
      if (!rederivable(actions)) await record(false);
      for (const { write, routes } of actions) {
        await write();
        const traffic = routes && router.observe(route).traffic;
        if (traffic) feed({ type: "TRAFFIC", ...traffic, now });
      }
      if (snapshot === before) break;
    }
    const before = current.status as RolloutStatus | undefined;
    await record(true);
    const after = current.status as RolloutStatus | undefined;
    for (const type of [ROUTE_CONDITION, WEIGHT_CONDITION])
      notices.push(...falseConditionNotices(type, before, after));
    await this.recorder.announce(
      { ...owner, resourceVersion: current.metadata.resourceVersion },
      notices,
      subject(),
      outcomeNotifications(stageBefore, stageOf(snapshot)),
      log,
    );
    this.deps.metrics?.setPhase(namespace, name, phaseOf(snapshot));
    this.deps.metrics?.canaryWeight.set({ namespace, name }, snapshot.context.canaryWeight);
    const wake = wakeAt(snapshot);
    return wake === undefined ? {} : { requeueAfterMs: Math.max(0, wake - now) };
  }

  /**
   * What a reconcile works from, read from the caches and status: the target, the router the
   * spec asks for, the route, the plan and the machine, and the spec with its templates; or the
   * problem that holds the rollout.
   */
  private takeUp(rollout: RolloutObject, own: RolloutSpec, now: number): TakenUp {
    const { namespace, name } = rollout.metadata;
    const target = this.deps.deployments.get(namespace, own.targetRef.name);
    const problem = judge(own, rollout, {
      target,
      primary: this.deps.deployments.get(namespace, primaryName(own.targetRef.name)),
      apps: this.deps.apps.view(namespace),
      autoscalers: this.autoscalersOf(namespace),
    });
    if (problem || !target)
      return { ok: false, problem: problem ?? { reason: "TargetNotFound", message: "" } };
    const resolved = resolveTemplates(own, namespace, this.deps.templates);
    if (!resolved.ok) return resolved;
    const { spec, sources } = resolved;
    const chosen = this.deps.routers(spec.trafficRouting);
    if (!chosen.ok)
      return { ok: false, problem: { reason: "RoutingUnavailable", message: chosen.reason } };
    const beyond = beyondCapabilities(spec, chosen.router.capabilities);
    if (beyond) return { ok: false, problem: { reason: "RoutingUnsupported", message: beyond } };
    const resumed = resume(spec, rollout.status?.machine, now);
    if (!resumed.ok) return resumed;
    const owner: OwnerRollout = { name, namespace, uid: rollout.metadata.uid };
    const { plan, snapshot } = resumed;
    const route = routeOf(spec, owner);
    return {
      ok: true,
      spec,
      sources,
      target,
      router: chosen.router,
      route,
      owner,
      plan,
      snapshot,
    };
  }

  private autoscalersOf(namespace: string): AutoscalersSeen {
    const { autoscalers } = this.deps;
    return {
      get: (name) => autoscalers.get(namespace, name),
      names: () =>
        autoscalers
          .list()
          .filter((a) => a.metadata.namespace === namespace && !a.metadata.labels[LABELS.rollout])
          .map((a) => a.metadata.name)
          .sort(),
    };
  }

  /**
   * The writes that would make the cluster what the snapshot wants, judged from the caches and
   * not yet made: a round that has none needs no record ahead of it.
   */
  private actions(snapshot: RolloutSnapshot, w: World): Action[] {
    const d = desiredOf(snapshot);
    const { spec, target, primary, route, router, owner, log } = w;
    const { namespace } = owner;
    const matchLabels = target.matchLabels ?? {};
    const actions: Action[] = [];
    const revision = d.primaryRevision;
    if (revision && primary?.metadata.annotations[REVISION_ANNOTATION] !== revision)
      actions.push({
        write: () => this.workload.applyPrimary(spec, revision, primary, target, owner, log),
      });
    actions.push(...this.services.actions(route, matchLabels, spec.service, owner));
    // The primary's autoscaler scales a Deployment that exists: made before it, it would only
    // report that it finds nothing to scale.
    if (primary)
      actions.push(
        ...this.autoscalers.actions(spec.autoscalerRef, spec.targetRef.name, owner, log),
      );

    const traffic = { canaryWeight: d.canaryWeight, mirrorPercent: d.mirrorPercent };
    if (d.routed && !router.isWritten(route, traffic)) {
      actions.push({
        write: async () => {
          routeWritten(await router.write(route, traffic), `the route ${namespace}/${route.apex}`);
          log.info(traffic, "route written");
        },
        routes: true,
        replayable: true,
      });
    }

    const current = target.replicas;
    const replicas = d.canaryScaledUp
      ? current > 0
        ? current
        : Math.max(primary?.replicas ?? 1, 1)
      : 0;
    if (replicas !== current && (replicas === 0 || current === 0)) {
      actions.push({
        write: async () => {
          await this.workload.scale(target, replicas, "scaling the canary");
          log.info({ replicas }, replicas === 0 ? "canary scaled down" : "canary scaled up");
        },
        replayable: true,
      });
    }
    return actions;
  }
}
