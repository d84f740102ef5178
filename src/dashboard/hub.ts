import type { Follower, Selection, WatchEnd } from "../cli/rollouts.ts";

type Named = {
  metadata?: { namespace?: string; name?: string; uid?: string; resourceVersion?: string };
};

/** What the hub tells its listeners: the scope's objects after a change, or that its watch failed. */
export type Change<T> = { type: "items"; items: T[] } | { type: "failed"; message: string };

/** Lists and watches a selection until the signal aborts: the CLI's `follow`, bound to a connection. */
export type Follow = <T extends Named>(
  selection: Selection,
  follower: Follower<T>,
  signal: AbortSignal,
) => Promise<WatchEnd>;

const keyOf = (o: Named) => o.metadata?.uid ?? `${o.metadata?.namespace}/${o.metadata?.name}`;

/** One watched scope: its objects as last seen, and who is listening. */
class Scope<T extends Named> {
  readonly objects = new Map<string, T>();
  readonly listeners = new Set<(c: Change<T>) => void>();
  readonly stop = new AbortController();
  listed = false;

  tell(change: Change<T>): void {
    for (const l of this.listeners) l(change);
  }

  items(): Change<T> {
    return { type: "items", items: [...this.objects.values()] };
  }
}

/**
 * The watches every open page shares: one per selection (a kind in a namespace, or in all),
 * opened by the first listener and closed when the last goes, so ten tabs on the same view cost
 * the apiserver one watch. A newcomer gets the objects the hub already holds, not a list of its own.
 */
export class Hub {
  private readonly follow: Follow;
  private readonly scopes = new Map<string, Scope<Named>>();

  constructor(follow: Follow) {
    this.follow = follow;
  }

  /** The watches open now, by selection: what the tests count. */
  get open(): number {
    return this.scopes.size;
  }

  subscribe<T extends Named>(selection: Selection, listener: (c: Change<T>) => void): () => void {
    const key = `${selection.path}?${selection.fieldSelector}`;
    let scope = this.scopes.get(key) as Scope<T> | undefined;
    if (scope) {
      if (scope.listed) listener(scope.items());
      scope.listeners.add(listener);
    } else {
      // Listening before the watch starts, so its first list reaches this listener too.
      scope = new Scope<T>();
      scope.listeners.add(listener);
      this.scopes.set(key, scope as unknown as Scope<Named>);
      this.watch(selection, scope, key);
    }
    const held = scope;
    return () => {
      held.listeners.delete(listener);
      if (held.listeners.size > 0) return;
      held.stop.abort();
      if (this.scopes.get(key) === (held as unknown as Scope<Named>)) this.scopes.delete(key);
    };
  }

  private watch<T extends Named>(selection: Selection, scope: Scope<T>, key: string): void {
    const ended = this.follow<T>(
      selection,
      {
        onList: (items) => {
          scope.objects.clear();
          for (const o of items) scope.objects.set(keyOf(o), o);
          scope.listed = true;
          scope.tell(scope.items());
          return true;
        },
        onChange: (type, object) => {
          if (type === "DELETED") scope.objects.delete(keyOf(object));
          else scope.objects.set(keyOf(object), object);
          scope.tell(scope.items());
          return true;
        },
      },
      scope.stop.signal,
    );
    // A watch that fails (Forbidden, the apiserver gone) is told to its pages, which say so; the
    // next page to open the view tries again.
    void ended.then((end) => {
      if (end.kind === "failed") scope.tell({ type: "failed", message: end.message });
      if (this.scopes.get(key) === (scope as unknown as Scope<Named>)) this.scopes.delete(key);
    });
  }
}
