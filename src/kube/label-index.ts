export type Labels = Record<string, string>;

/** Whether a matchLabels selector selects what carries `labels`: every pair of it is among them. */
export const selects = (selector: Labels, labels: Labels) =>
  Object.entries(selector).every(([k, v]) => labels[k] === v);

const pairKey = (namespace: string, key: string, value: string) =>
  JSON.stringify([namespace, key, value]);

/**
 * Named objects of each namespace, each with sets of labels, looked up by one label pair at a
 * time: finding which sets a selector selects, or which selectors select a set, reads only the
 * objects sharing a pair with the question, never the whole namespace.
 */
export class LabelIndex {
  private readonly sets = new Map<string, Labels[]>();
  private readonly byPair = new Map<string, Set<string>>();

  /** Replaces the label sets of an object; empty sets are not kept (they match nothing here). */
  set(namespace: string, name: string, labelSets: Labels[]): void {
    this.delete(namespace, name);
    const kept = labelSets.filter((s) => Object.keys(s).length > 0);
    if (kept.length === 0) return;
    this.sets.set(JSON.stringify([namespace, name]), kept);
    for (const s of kept) {
      for (const [k, v] of Object.entries(s)) {
        const key = pairKey(namespace, k, v);
        this.byPair.set(key, (this.byPair.get(key) ?? new Set()).add(name));
      }
    }
  }

  delete(namespace: string, name: string): void {
    const id = JSON.stringify([namespace, name]);
    for (const s of this.sets.get(id) ?? []) {
      for (const [k, v] of Object.entries(s)) {
        const key = pairKey(namespace, k, v);
        const names = this.byPair.get(key);
        names?.delete(name);
        if (names?.size === 0) this.byPair.delete(key);
      }
    }
    this.sets.delete(id);
  }

  /** The objects with a set that `selector` selects (none for an empty selector). */
  selectedBy(namespace: string, selector: Labels): string[] {
    const pairs = Object.entries(selector);
    if (pairs.length === 0) return [];
    const buckets = pairs.map(([k, v]) => this.byPair.get(pairKey(namespace, k, v)));
    if (buckets.some((b) => b === undefined)) return [];
    const smallest = (buckets as Set<string>[]).reduce((a, b) => (b.size < a.size ? b : a));
    return [...smallest].filter((name) =>
      this.setsOf(namespace, name).some((s) => selects(selector, s)),
    );
  }

  /** The objects with a set that, read as a selector, selects what carries `labels`. */
  selecting(namespace: string, labels: Labels): string[] {
    const names = new Set<string>();
    for (const [k, v] of Object.entries(labels))
      for (const name of this.byPair.get(pairKey(namespace, k, v)) ?? []) names.add(name);
    return [...names].filter((name) =>
      this.setsOf(namespace, name).some((s) => selects(s, labels)),
    );
  }

  private setsOf(namespace: string, name: string): Labels[] {
    return this.sets.get(JSON.stringify([namespace, name])) ?? [];
  }
}
