/** RFC 6902's add, replace and remove, as the apiserver applies a status patch. */
export type JsonOp = { op: "add" | "replace" | "remove"; path: string; value?: unknown };

export function jsonPatch<T>(obj: T, ops: JsonOp[]): T {
  const out = structuredClone(obj) as Record<string, unknown>;
  for (const { op, path, value } of ops) {
    const keys = path.split("/").slice(1);
    const last = keys.pop() as string;
    let parent = out as Record<string, unknown> | unknown[];
    for (const key of keys) parent = (parent as Record<string, unknown>)[key] as typeof parent;
    if (parent === undefined) throw new Error(`json patch: no parent for ${path}`);
    if (Array.isArray(parent)) {
      if (op === "remove") parent.splice(Number(last), 1);
      else if (last === "-") parent.push(value);
      else parent.splice(Number(last), op === "replace" ? 1 : 0, value);
    } else if (op === "remove") delete parent[last];
    else parent[last] = value;
  }
  return out as T;
}
