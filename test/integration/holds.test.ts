import { describe, expect, test } from "vitest";
import { argoHealth } from "./support/argocd.ts";
import {
  deploymentManifest,
  eventually,
  eventWith,
  newNamespace,
  ok,
  paths,
} from "./support/cluster.ts";
import { Podinfo, withController } from "./support/rollouts.ts";

const world = withController();
const health = argoHealth();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const warning = (p: Podinfo, reason: string) => eventWith(world.client, p.ns, reason, "Warning");

async function condition(p: Podinfo, type: string, reason: string, timeoutMs = 30_000) {
  return eventually(
    `${type} ${reason} on ${p.ns}/podinfo`,
    async () =>
      (await p.rollout()).status?.conditions?.find((c) => c.type === type && c.reason === reason),
    timeoutMs,
  );
}

async function primaryRevision(p: Podinfo): Promise<string | undefined> {
  const got = await world.client.get<{ metadata: { annotations?: Record<string, string> } }>(
    `${paths.deployments(p.ns)}/podinfo-primary`,
  );
  return got.ok ? got.value.metadata.annotations?.["fledge.dev/revision"] : undefined;
}

async function patchStatus(p: Podinfo, status: Record<string, unknown>) {
  ok(
    await world.client.patch(`${paths.rollouts(p.ns)}/podinfo/status`, { status }),
    "patching status",
  );
}

describe("holds: what the controller cannot trust, it does not act on", () => {
  test("an unreadable status.machine holds the primary and the split while a new revision waits, and removing it starts a canary from the primary's revision", async () => {
    const { p, initial } = await Podinfo.healthy(world.client, "unreadable", [
      { setWeight: 30 },
      { pause: {} },
    ]);
    const stable = initial.status?.stableRevision;
    await patchStatus(p, { machine: { version: 1, state: "nowhere", context: {} } });
    await p.newRevision("2");
    const held = await condition(p, "Ready", "StatusUnreadable");
    expect(held.status).toBe("False");
    expect(held.message).toContain("status.machine");
    await warning(p, "StatusUnreadable");
    expect((await p.rollout()).status?.message).toContain("holding traffic and workloads");
    expect(await health(await p.rollout())).toMatchObject({
      status: "Degraded",
      message: expect.stringMatching(/^StatusUnreadable: /),
    });
    // Held means held: no write moves the primary or the split while status cannot be read.
    for (let i = 0; i < 10; i++) {
      expect(await primaryRevision(p)).toBe(stable);
      expect(await p.weight()).toBe(0);
      await sleep(300);
    }

    await patchStatus(p, { machine: null });
    const progressing = await eventually("a canary of the new revision at 30%", async () => {
      const r = await p.rollout();
      return r.status?.canaryWeight === 30 && r.status.phase === "Paused" ? r : undefined;
    });
    expect(progressing.status?.stableRevision).toBe(stable);
    expect(progressing.status?.canaryRevision).not.toBe(stable);
    expect(await primaryRevision(p)).toBe(stable);
    expect(await p.weight()).toBe(30);
  }, 90_000);

  test("a write the apiserver refuses is Ready False WriteRefused with the resource and its words, and an Event, and clears once the write goes through", async () => {
    const policy = `fledge-freeze-${Date.now()}`;
    const admission = "/apis/admissionregistration.k8s.io/v1";
    // The namespace exists only once Podinfo.create runs, so the policy picks it by its prefix.
    ok(
      await world.client.create(`${admission}/validatingadmissionpolicies`, {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicy",
        metadata: { name: policy },
        spec: {
          failurePolicy: "Fail",
          matchConstraints: {
            resourceRules: [
              {
                apiGroups: ["apps"],
                apiVersions: ["v1"],
                operations: ["CREATE", "UPDATE"],
                resources: ["deployments"],
              },
            ],
          },
          validations: [
            {
              expression:
                "!(request.namespace.startsWith('refused-') && object.metadata.name.endsWith('-primary'))",
              message: "primaries are frozen in this namespace",
            },
          ],
        },
      }),
      "policy",
    );
    ok(
      await world.client.create(`${admission}/validatingadmissionpolicybindings`, {
        apiVersion: "admissionregistration.k8s.io/v1",
        kind: "ValidatingAdmissionPolicyBinding",
        metadata: { name: policy },
        spec: { policyName: policy, validationActions: ["Deny"] },
      }),
      "binding",
    );
    const probe = await newNamespace(world.client, "refused");
    await eventually("the policy to refuse a primary", async () => {
      const tried = await world.client.request(
        "POST",
        paths.deployments(probe),
        deploymentManifest(probe, "probe-primary", 1),
        undefined,
        { dryRun: "All" },
      );
      return tried.ok ? undefined : true;
    });
    const p = await Podinfo.create(world.client, "refused", [{ setWeight: 50 }]);
    try {
      const refused = await condition(p, "Ready", "WriteRefused", 60_000);
      expect(refused.status).toBe("False");
      expect(refused.message).toContain(`Deployment ${p.ns}/podinfo-primary`);
      expect(refused.message).toContain("primaries are frozen in this namespace");
      expect((await p.rollout()).status?.message).toBe(refused.message);
      expect(await health(await p.rollout())).toEqual({
        status: "Degraded",
        message: `WriteRefused: ${refused.message}`,
      });
      expect((await warning(p, "WriteRefused")).message).toBe(refused.message);
    } finally {
      await world.client.delete(`${admission}/validatingadmissionpolicybindings/${policy}`);
      await world.client.delete(`${admission}/validatingadmissionpolicies/${policy}`);
    }
    await p.phase("Healthy", 90_000);
    const ready = await condition(p, "Ready", "Serving");
    expect(ready.status).toBe("True");
  }, 180_000);
});
