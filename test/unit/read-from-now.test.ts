import { describe, expect, it } from "vitest";
import { readFromNow } from "../../src/kube/read-from-now.ts";

/** A read whose answers the test releases one at a time; each answers with its own number. */
function heldReads() {
  const pending: (() => void)[] = [];
  let begun = 0;
  const read = () => {
    const n = ++begun;
    return new Promise<number>((resolve) => pending.push(() => resolve(n)));
  };
  const release = async () => {
    pending.shift()?.();
    // Lets the released read's callers, and a read they begin, run.
    for (let i = 0; i < 5; i++) await Promise.resolve();
  };
  return { read, release, begun: () => begun };
}

describe("a read shared from the call on", () => {
  it("answers a lone call with a read of its own", async () => {
    const reads = heldReads();
    const fresh = readFromNow(reads.read);
    const answer = fresh();
    await reads.release();
    expect(await answer).toBe(1);
    expect(reads.begun()).toBe(1);
  });

  it("answers calls made during a read with the next one, which they share", async () => {
    const reads = heldReads();
    const fresh = readFromNow(reads.read);
    const first = fresh();
    const during = [fresh(), fresh(), fresh()];
    expect(reads.begun()).toBe(1);
    await reads.release();
    expect(await first).toBe(1);
    expect(reads.begun()).toBe(2);
    const duringSecond = fresh();
    await reads.release();
    expect(await Promise.all(during)).toEqual([2, 2, 2]);
    await reads.release();
    expect(await duringSecond).toBe(3);
    expect(reads.begun()).toBe(3);
  });

  it("begins a read afresh once none is in flight, and after one that failed", async () => {
    let begun = 0;
    const fresh = readFromNow(async () => {
      begun++;
      if (begun === 1) throw new Error("refused");
      return begun;
    });
    await expect(fresh()).rejects.toThrow("refused");
    expect(await fresh()).toBe(2);
    expect(await fresh()).toBe(3);
  });
});
