import { describe, expect, it } from "vitest";
import { API_VERSION } from "../../src/api/rollout.ts";
import { type RolloutObject, rolloutObject } from "../../src/controller/rollout-object.ts";
import { autoscalerUsers } from "../../src/controller/rollout-refs.ts";

/** A Rollout as the informer hands it over, naming an autoscaler (or none). */
function rollout(namespace: string, name: string, autoscalerRef?: unknown): RolloutObject {
  const r = rolloutObject({
    apiVersion: API_VERSION,
    kind: "Rollout",
    metadata: { name, namespace, resourceVersion: "1" },
    spec: { targetRef: { name }, ...(autoscalerRef === undefined ? {} : { autoscalerRef }) },
  });
  if (!r) throw new Error("not a Rollout");
  return r;
}

describe("the Rollouts naming each autoscaler", () => {
  it("finds the Rollouts of one autoscaler in its namespace only, and follows edits and deletes", () => {
    const users = autoscalerUsers();
    users.rolloutChanged("ADDED", rollout("shop", "a", { name: "web" }));
    users.rolloutChanged("ADDED", rollout("shop", "b", { name: "web" }));
    users.rolloutChanged("ADDED", rollout("blog", "c", { name: "web" }));
    users.rolloutChanged("ADDED", rollout("shop", "d"));
    expect(users.of("shop/web").sort()).toEqual(["shop/a", "shop/b"]);
    expect(users.of("blog/web")).toEqual(["blog/c"]);
    expect(users.of("shop/api")).toEqual([]);

    users.rolloutChanged("MODIFIED", rollout("shop", "b", { name: "api" }));
    expect(users.of("shop/web")).toEqual(["shop/a"]);
    expect(users.of("shop/api")).toEqual(["shop/b"]);

    // A spec that names no autoscaler, or names one badly, names none.
    users.rolloutChanged("MODIFIED", rollout("shop", "a", { name: 7 }));
    expect(users.of("shop/web")).toEqual([]);
    users.rolloutChanged("MODIFIED", rollout("shop", "d", { name: "web" }));
    expect(users.of("shop/web")).toEqual(["shop/d"]);

    users.rolloutChanged("DELETED", rollout("shop", "d", { name: "web" }));
    users.rolloutChanged("DELETED", rollout("shop", "b", { name: "api" }));
    expect(users.of("shop/web")).toEqual([]);
    expect(users.of("shop/api")).toEqual([]);
  });

  it("answers from the index: 10,000 Rollouts, one lookup reads only its users", () => {
    const users = autoscalerUsers();
    for (let i = 0; i < 10_000; i++)
      users.rolloutChanged("ADDED", rollout(`ns-${i % 100}`, `r-${i}`, { name: `hpa-${i % 7}` }));
    const started = performance.now();
    for (let i = 0; i < 1_000; i++) users.of("ns-3/hpa-1");
    const perLookup = (performance.now() - started) / 1_000;
    // ns-3 holds r-3, r-103, ... (100 Rollouts); those with i % 7 === 1 name hpa-1.
    expect(users.of("ns-3/hpa-1").length).toBe(
      Array.from({ length: 100 }, (_, k) => 3 + 100 * k).filter((i) => i % 7 === 1).length,
    );
    expect(perLookup).toBeLessThan(1);
  });
});
