import type { z } from "zod";

export type Parsed<T> = { ok: true; value: T } | { ok: false; error: string };

function fieldPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const key of path) {
    if (typeof key === "number") out += `[${key}]`;
    else out += out ? `.${String(key)}` : String(key);
  }
  return out || "(object)";
}

/** One line per problem, each naming the field and the rule it broke. */
export function describeIssues(error: z.ZodError): string {
  return error.issues.map((issue) => `${fieldPath(issue.path)}: ${issue.message}`).join("; ");
}

/**
 * Everything read from the cluster goes through its schema here, so a malformed object becomes a
 * value with a reason rather than an exception deep inside the reconciler.
 */
export function parseAs<S extends z.ZodType>(
  schema: S,
  value: unknown,
  what: string,
): Parsed<z.infer<S>> {
  const result = schema.safeParse(value);
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, error: `${what}: ${describeIssues(result.error)}` };
}
