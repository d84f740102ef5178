import { execFile, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, inject, test } from "vitest";
import { parse } from "yaml";
import { kubeconfigYaml, serviceAccountToken } from "../harness/control-plane.ts";
import { CLI_MAIN, type CliRun, cli } from "./support/cli.ts";
import {
  adminKubeConfig,
  eventually,
  newNamespace,
  ok,
  paths,
  repoRoot,
} from "./support/cluster.ts";
import { Podinfo, withController } from "./support/rollouts.ts";

const world = withController();

/** The value the CLI wrote for a one-shot action, from what it printed. */
const idFrom = (out: string, annotation: string) =>
  new RegExp(`set ${annotation}=(\\S+?)(;|\\n|$)`).exec(out)?.[1];

async function eventsWith(p: Podinfo, reason: string): Promise<number> {
  const list = ok(
    await world.client.get<{ items: { reason: string; involvedObject: { name: string } }[] }>(
      paths.events(p.ns),
    ),
    "events",
  );
  return list.items.filter((e) => e.reason === reason && e.involvedObject.name === "podinfo")
    .length;
}

describe("kubectl-fledge list and get", () => {
  test("list, list -A, get and -o json|yaml show the rollouts the controller manages", async () => {
    const { p, initial } = await Podinfo.healthy(world.client, "cli-get", [
      { setWeight: 20 },
      { pause: {} },
    ]);
    const listed = await cli(["list", "-n", p.ns]);
    expect(listed).toMatchObject({ code: 0, stderr: "" });
    expect(listed.stdout.split("\n")[0]).toMatch(/^NAME +PHASE +STEP +WEIGHT +AGE$/);
    expect(listed.stdout.split("\n")[1]).toMatch(/^podinfo +Healthy +- +0% +\d+s$/);

    const all = await cli(["list", "-A"]);
    expect(all.code).toBe(0);
    expect(all.stdout.split("\n")[0]).toMatch(/^NAMESPACE +NAME +PHASE/);
    expect(all.stdout).toMatch(new RegExp(`^${p.ns} +podinfo +Healthy `, "m"));

    const json = JSON.parse((await cli(["list", "-n", p.ns, "-o", "json"])).stdout);
    expect(json.items.map((r: { metadata: { name: string } }) => r.metadata.name)).toEqual([
      "podinfo",
    ]);

    const got = await cli(["get", "rollout", "podinfo", "-n", p.ns]);
    expect(got.code).toBe(0);
    expect(got.stdout).toContain(`Name:       ${p.ns}/podinfo`);
    expect(got.stdout).toContain("Phase:      Healthy");
    expect(got.stdout).toContain(`Stable:     ${initial.status?.stableRevision}`);
    expect(got.stdout).toMatch(/Events:\n.*Initialized/);
    expect(got.stdout).not.toContain("\u001b[");

    const yaml = parse((await cli(["get", "rollout", "podinfo", "-n", p.ns, "-o", "yaml"])).stdout);
    expect(yaml.status.stableRevision).toBe(initial.status?.stableRevision);
  });

  test("errors are one line with a non-zero exit: not found, forbidden, no kubeconfig", async () => {
    const ns = await newNamespace(world.client, "cli-err");
    expect(await cli(["get", "rollout", "nope", "-n", ns])).toEqual({
      code: 1,
      stdout: "",
      stderr: `error: rollout "nope" in namespace "${ns}" not found\n`,
    });

    ok(
      await world.client.create(`/api/v1/namespaces/${ns}/serviceaccounts`, {
        metadata: { name: "nobody" },
      }),
      "service account",
    );
    const admin = adminKubeConfig();
    const cluster = admin.getCurrentCluster();
    const kubeconfig = join(world.dir, "nobody.kubeconfig");
    writeFileSync(
      kubeconfig,
      kubeconfigYaml(
        cluster?.server ?? "",
        Buffer.from(cluster?.caData ?? "", "base64").toString(),
        "nobody",
        await serviceAccountToken(admin, ns, "nobody"),
      ),
    );
    const forbidden = await cli(["list", "-n", ns, "--kubeconfig", kubeconfig]);
    expect(forbidden.code).toBe(1);
    expect(forbidden.stderr).toMatch(
      new RegExp(
        `^error: forbidden: .*system:serviceaccount:${ns}:nobody.* cannot list .*rollouts.*\\n$`,
      ),
    );

    const none = await new Promise<CliRun>((resolve) =>
      execFile(
        process.execPath,
        [CLI_MAIN, "list"],
        { env: { PATH: process.env.PATH, HOME: world.dir } },
        (error, stdout, stderr) => resolve({ code: error ? 1 : 0, stdout, stderr }),
      ),
    );
    expect(none).toEqual({
      code: 1,
      stdout: "",
      stderr: "error: no kubeconfig: pass --kubeconfig, set KUBECONFIG or create ~/.kube/config\n",
    });
  });
});

/** `get rollout podinfo --watch` as its own process, once its first frame is out. */
async function watching(p: Podinfo) {
  const child = spawn(process.execPath, [
    CLI_MAIN,
    "--kubeconfig",
    inject("kubeconfig"),
    "get",
    "rollout",
    "podinfo",
    "-n",
    p.ns,
    "--watch",
  ]);
  let out = "";
  child.stdout.on("data", (chunk) => {
    out += chunk;
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
  await eventually("the first frame", () => (out.includes("Phase:") ? true : undefined));
  return { exited, output: () => out };
}

describe("kubectl-fledge steering", () => {
  test("pause, resume, promote, abort, retry and promote --full each apply exactly once", async () => {
    const { p } = await Podinfo.healthy(world.client, "cli-steer", [
      { setWeight: 20 },
      { pause: {} },
      { setWeight: 60 },
      { pause: {} },
    ]);
    await p.newRevision("2");
    await p.phase("Paused");

    const paused = await cli(["pause", "podinfo", "-n", p.ns]);
    expect(paused.code).toBe(0);
    expect(paused.stdout).toBe(
      `rollout ${p.ns}/podinfo: set fledge.dev/pause=true\n  Paused  step 2/4  canary 20%  paused at step 2/4\n`,
    );
    expect((await p.rollout()).status?.pauseReasons?.map((r) => r.reason).sort()).toEqual([
      "Person",
      "Step",
    ]);

    // One resume lifts both holds: the person's annotation and the step's pause.
    const resumed = await cli(["resume", "podinfo", "-n", p.ns]);
    expect(resumed.code).toBe(0);
    expect(resumed.stdout).toMatch(
      /^rollout \S+: removed fledge\.dev\/pause; set fledge\.dev\/resume=\S+\n/,
    );
    const atSixty = await p.phase("Paused");
    expect(atSixty.status?.canaryWeight).toBe(60);
    expect(atSixty.metadata.annotations?.["fledge.dev/pause"]).toBeUndefined();

    const promoted = await cli(["promote", "podinfo", "-n", p.ns]);
    expect(promoted.code).toBe(0);
    const promoteId = idFrom(promoted.stdout, "fledge.dev/promote");
    expect(promoteId).toBeDefined();
    const healthy = await p.phase("Healthy");
    expect(healthy.metadata.annotations?.["fledge.dev/promote"]).toBe(promoteId);

    // The promote annotation is still there; the next rollout must not be promoted by it again.
    await p.newRevision("3");
    await eventually("the third revision to pause at its first pause step", async () => {
      const r = await p.rollout();
      return r.status?.phase === "Paused" && r.status.canaryWeight === 20 ? r : undefined;
    });
    await new Promise((r) => setTimeout(r, 1500));
    expect((await p.rollout()).status?.phase).toBe("Paused");
    expect(await eventsWith(p, "PromotionRequested")).toBe(1);

    const aborted = await cli(["abort", "podinfo", "-n", p.ns]);
    expect(aborted.code).toBe(0);
    expect(aborted.stdout).toMatch(/set fledge\.dev\/abort=\S+\n {2}(RollingBack|Aborted) /);
    await p.phase("Aborted");
    expect(await p.weight()).toBe(0);

    const retried = await cli(["retry", "podinfo", "-n", p.ns]);
    expect(retried.code).toBe(0);
    expect(retried.stdout).toMatch(/set fledge\.dev\/retry=\S+\n/);
    await eventually("the retried rollout to pause at 20%", async () => {
      const r = await p.rollout();
      return r.status?.phase === "Paused" && r.status.canaryWeight === 20 ? r : undefined;
    });

    const full = await cli(["promote", "--full", "podinfo", "-n", p.ns]);
    expect(full.code).toBe(0);
    expect(full.stdout).toMatch(/set fledge\.dev\/promote-full=\S+\n/);
    await p.phase("Healthy");
    expect(await eventsWith(p, "Aborted")).toBe(1);
    expect(await eventsWith(p, "RetryStarted")).toBe(1);
    expect(await eventsWith(p, "PromotionRequested")).toBe(2);
  });

  test("get --watch follows the rollout through a watch and exits when it rests", async () => {
    const { p } = await Podinfo.healthy(world.client, "cli-watch", [
      { setWeight: 20 },
      { pause: { duration: "1s" } },
      { setWeight: 60 },
      { pause: { duration: "1s" } },
    ]);
    const watch = await watching(p);
    await p.newRevision("2");
    expect(await watch.exited).toBe(0);
    const out = watch.output();

    const phases = [...out.matchAll(/^Phase: +(\w+)/gm)].map((m) => m[1]);
    expect(phases[0]).toBe("Healthy");
    expect(phases).toContain("Paused");
    expect(phases[phases.length - 1]).toBe("Healthy");
    const weights = [...out.matchAll(/^Weight: +\[[#.]+\] (\d+)% canary/gm)].map((m) => m[1]);
    expect(weights).toContain("20");
    expect(weights).toContain("60");
    // The last frame has the Events of the reconcile that promoted, written after its status.
    expect(out.slice(out.lastIndexOf("Phase:"))).toMatch(/Events:\n(.*\n)*.*Promoted +revision/);
    // Not a terminal: frames follow one another, without cursor movement.
    expect(out).not.toContain("\u001b");
  });

  test("get --watch exits 1 when the rollout ends Aborted", async () => {
    const { p } = await Podinfo.healthy(world.client, "cli-watch-abort", [
      { setWeight: 20 },
      { pause: {} },
    ]);
    const watch = await watching(p);
    await p.newRevision("2");
    await p.phase("Paused");
    expect((await cli(["abort", "podinfo", "-n", p.ns])).code).toBe(0);
    expect(await watch.exited).toBe(1);
    const last = watch.output().slice(watch.output().lastIndexOf("Phase:"));
    expect(last).toMatch(/^Phase: +Aborted +aborted by a person at step 2\/2/);
  });
});

/** Whether the tier's control plane serves HTTPRoutes: its CRDs say, and the check must say what they say. */
async function gatewayApiServed(): Promise<boolean> {
  const got = await world.client.get(
    "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/httproutes.gateway.networking.k8s.io",
  );
  if (!got.ok && got.error.reason !== "NotFound") throw new Error(got.error.message);
  return got.ok;
}

describe("kubectl-fledge check", () => {
  test("passes what the harness has, and names what it lacks", async () => {
    // Its own namespace for the Rollouts and HTTPRoutes httproute looks at: other tests' are not its.
    const ns = await newNamespace(world.client, "cli-check");
    const passing = await cli(["check", "-n", ns, "--skip", "trafficmetrics", "prometheus"]);
    expect(passing.stdout).toMatch(
      /^ok {4}crd {13}rollouts\.fledge\.dev Established, serving v1alpha1$/m,
    );
    expect(passing.stdout).toMatch(
      new RegExp(
        `^ok {4}templates +0 AnalysisTemplates in namespace ${ns}, \\d+ ClusterAnalysisTemplates?; none invalid$`,
        "m",
      ),
    );
    expect(passing.stdout).toMatch(
      /^ok {4}trafficsplit +trafficsplits\.split\.smi-spec\.io Established, serving v1alpha1, v1alpha2, v1alpha3, v1alpha4$/m,
    );
    expect(passing.stdout).toMatch(/^ok {4}httproutegroup +.* serving v1alpha3, v1alpha4$/m);
    expect(passing.stdout).toMatch(
      (await gatewayApiServed())
        ? new RegExp(
            `^ok {4}httproute +httproutes\\.gateway\\.networking\\.k8s\\.io Established, serving v1(beta1)?(, v1(beta1)?)?( \\(.*\\))?; no HTTPRoute of a Rollout in namespace ${ns} yet$`,
            "m",
          )
        : new RegExp(
            `^skip {2}httproute +CustomResourceDefinition httproutes\\.gateway\\.networking\\.k8s\\.io is not installed; no Rollout in namespace ${ns} uses trafficRouting\\.gatewayAPI$`,
            "m",
          ),
    );
    expect(passing.stdout).toMatch(
      /^ok {4}rbac +system:serviceaccount:fledge-system:fledge-controller may do all \d+ things deploy\/base\/rbac\.yaml grants$/m,
    );
    expect(passing.stdout).toMatch(/^skip {2}prometheus +skipped \(--skip\)$/m);
    expect(passing.code).toBe(0);

    const failing = await cli(["check"]);
    expect(failing.code).toBe(1);
    expect(failing.stdout).toMatch(
      /^fail {2}trafficmetrics +APIService v1alpha1\.metrics\.smi-spec\.io is not registered: /m,
    );
    expect(failing.stdout).toMatch(/^fail {2}prometheus +no Prometheus address: /m);

    const json = JSON.parse((await cli(["check", "-o", "json"])).stdout);
    expect(json).toHaveLength(8);
    expect(json.find((i: { name: string }) => i.name === "prometheus")).toMatchObject({
      outcome: "fail",
      detail: expect.stringMatching(/^no Prometheus address/),
    });
  });

  test("httproute names a Rollout on the Gateway API when the cluster does not serve it", async () => {
    const ns = await newNamespace(world.client, "cli-gateway");
    // No Deployment: the controller makes nothing for it (TargetNotFound), and no route.
    ok(
      await world.client.create(paths.rollouts(ns), {
        apiVersion: "fledge.dev/v1alpha1",
        kind: "Rollout",
        metadata: { name: "checkout" },
        spec: {
          targetRef: { name: "checkout" },
          service: { port: 9898 },
          steps: [{ setWeight: 10 }],
          trafficRouting: { gatewayAPI: {} },
        },
      }),
      "rollout",
    );
    const run = await cli(["check", "-n", ns, "--skip", "rbac", "trafficmetrics", "prometheus"]);
    if (await gatewayApiServed()) {
      expect(run.stdout).toMatch(
        new RegExp(`^ok {4}httproute +.*; no HTTPRoute of a Rollout in namespace ${ns} yet$`, "m"),
      );
      expect(run.code).toBe(0);
    } else {
      expect(run.stdout).toMatch(
        new RegExp(
          `^fail {2}httproute +CustomResourceDefinition httproutes\\.gateway\\.networking\\.k8s\\.io is not installed, but ${ns}/checkout uses trafficRouting\\.gatewayAPI and reports RoutingUnavailable: install the Gateway API's CRDs$`,
          "m",
        ),
      );
      expect(run.code).toBe(1);
    }
  });

  test("a ServiceAccount without the controller's rights fails rbac, naming what it may not do", async () => {
    const ns = await newNamespace(world.client, "cli-rbac");
    ok(
      await world.client.create(`/api/v1/namespaces/${ns}/serviceaccounts`, {
        metadata: { name: "bare" },
      }),
      "service account",
    );
    const rbacOf = (sa: string) =>
      cli(["check", "--service-account", `${ns}/${sa}`, "--skip", "trafficmetrics", "prometheus"]);
    const bare = await rbacOf("bare");
    expect(bare.code).toBe(1);
    const line = bare.stdout.split("\n").find((l) => l.startsWith("fail  rbac"));
    expect(line).toMatch(
      new RegExp(`system:serviceaccount:${ns}:bare may not get rollouts\\.fledge\\.dev, `),
    );
    expect(line).toContain("patch deployments.apps");
    expect(line).toContain(`update leases.coordination.k8s.io in ${ns}`);

    const missing = await rbacOf("ghost");
    expect(missing.code).toBe(1);
    expect(missing.stdout).toMatch(
      new RegExp(`^fail {2}rbac +ServiceAccount ${ns}/ghost does not exist`, "m"),
    );
  });
});

describe("the installed bin", () => {
  const bin = join(
    repoRoot,
    JSON.parse(readFileSync(join(repoRoot, "package.json"), "utf8")).bin["kubectl-fledge"],
  );
  const run = (node: string, args: string[]) =>
    new Promise<CliRun>((resolve) =>
      execFile(node, [bin, ...args], { timeout: 60_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? ((error.code as number | undefined) ?? 1) : 0, stdout, stderr }),
      ),
    );

  test("runs on the Node it needs, and on the system's Node says in one line which it needs", async () => {
    expect(await run(process.execPath, ["--help"])).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/^Usage: kubectl fledge/),
    });
    // The machines' own Node (/usr/bin/node, 20.x here) is what `kubectl fledge` finds after
    // `npm link`; below 22 the Kubernetes client cannot even be imported.
    const system = "/usr/bin/node";
    const version = await new Promise<string>((resolve) =>
      execFile(system, ["--version"], (_e, stdout) => resolve(stdout.trim())),
    );
    const old = await run(system, ["--help"]);
    if (Number(/^v(\d+)/.exec(version)?.[1]) < 22) {
      expect(old.code).toBe(1);
      expect(old.stdout).toBe("");
      expect(old.stderr).toBe(
        `error: kubectl fledge needs Node 22 or later; this is Node ${version.slice(1)} (${system}). ` +
          "Install a newer Node (for example `npm install -g node@24`) or put one first on PATH.\n",
      );
    } else {
      expect(old).toMatchObject({ code: 0, stdout: expect.stringMatching(/^Usage: /) });
    }
  });
});
