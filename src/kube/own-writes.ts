import { isNewer } from "./resource-version.ts";

/** A cached object and the resourceVersion it came from. */
export interface Entry<T> {
  value: T;
  resourceVersion: string;
}

/**
 * The objects our own writes returned that the watch has not brought back yet, one per key, in
 * the manner of client-go's MutationCache. A cache answers with such a copy over its own until
 * the watch or a list reaches the copy's version: a reconcile must never act on a copy older
 * than its own last write (a Rollout's status is the machine's memory, and an older one undoes
 * steps), and on a loaded apiserver the watch lags by many seconds.
 */
export class OwnWrites<T> {
  private readonly copies = new Map<string, Entry<T>>();

  /**
   * Keeps a write's result, unless what is known already is that version or a later one; says
   * whether it kept it.
   */
  remember(key: string, entry: Entry<T>, known: Entry<T> | undefined): boolean {
    const newest = this.copies.get(key) ?? known;
    if (newest && !isNewer(entry.resourceVersion, newest.resourceVersion)) return false;
    this.copies.set(key, entry);
    return true;
  }

  get(key: string): Entry<T> | undefined {
    return this.copies.get(key);
  }

  /**
   * The watch brought `resourceVersion` of `key`, a change or a deletion: a deletion older than
   * our copy is of an earlier incarnation, which we have since made again. Returns the copy it
   * reached, which is dropped, so the caller can tell its own write coming back.
   */
  reached(key: string, resourceVersion: string): Entry<T> | undefined {
    const copy = this.copies.get(key);
    if (!copy || isNewer(copy.resourceVersion, resourceVersion)) return undefined;
    this.copies.delete(key);
    return copy;
  }

  /** A list at `listedAt` replaced the cache: copies it reached go, those it missed were deleted. */
  listed(entries: ReadonlyMap<string, Entry<T>>, listedAt: string): void {
    for (const [key, copy] of this.copies) {
      if (!isNewer(copy.resourceVersion, entries.get(key)?.resourceVersion ?? listedAt))
        this.copies.delete(key);
    }
  }

  /** The cache's entries with these copies over them. */
  over(cache: ReadonlyMap<string, Entry<T>>): Map<string, Entry<T>> {
    return new Map([...cache, ...this.copies]);
  }
}
