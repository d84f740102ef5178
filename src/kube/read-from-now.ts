/**
 * Shares one read among callers who each need what the server holds from their call on. A read
 * already in flight when a call comes may have been answered before the change the caller is
 * after, so the call waits for the next read, and every call made meanwhile shares that one: a
 * burst of calls costs at most two reads, not one each.
 */
export function readFromNow<T>(read: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  let next: Promise<T> | undefined;
  const begin = () => {
    const started = read();
    running = started;
    const done = () => {
      if (running === started) running = undefined;
    };
    started.then(done, done);
    return started;
  };
  const settled = () => undefined;
  return () => {
    if (next) return next;
    if (!running) return begin();
    next = running.then(settled, settled).then(() => {
      next = undefined;
      return begin();
    });
    return next;
  };
}
