/**
 * A cache the reconciler reads, told of every object its writes return: until the watch brings
 * a write back, get() answers with what the write returned, so no reconcile acts on a copy
 * older than its own last write (see Informer.remember).
 */
export type Store<T> = {
  get(namespace: string, name: string): T | undefined;
  remember(raw: unknown): void;
};
