import { z } from "zod";

type Json = { [key: string]: unknown };

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Bounds zod adds to every z.int(); Kubernetes' own int64 range says the same, so they are noise. */
const SAFE_BOUNDS = new Set([Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER]);

function isIntOrString(branches: unknown[]): boolean {
  const types = branches.map((b) => (isObject(b) ? b.type : undefined)).sort();
  return types.length === 2 && types[0] === "integer" && types[1] === "string";
}

/**
 * Turns zod's OpenAPI 3.0 output into a structural schema as apiextensions.k8s.io/v1 wants it:
 * every node typed, no $ref, no additionalProperties:false, int-or-string as the Kubernetes
 * extension rather than anyOf. Anything it cannot express structurally is a bug in a schema, so
 * it throws with the path.
 */
function structural(node: unknown, path: string): Json {
  if (!isObject(node)) throw new Error(`${path}: not a schema`);
  if ("$ref" in node) throw new Error(`${path}: $ref is not allowed in a CRD schema`);
  const out: Json = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === "$schema" || key === "id") continue;
    if ((key === "minimum" || key === "maximum") && SAFE_BOUNDS.has(value as number)) continue;
    // A node that keeps unknown fields has no item schema to give; false is not structural.
    if (
      key === "additionalProperties" &&
      (value === false || node["x-kubernetes-preserve-unknown-fields"])
    )
      continue;
    if (key === "anyOf" || key === "oneOf") {
      const branches = value as unknown[];
      if (!isIntOrString(branches))
        throw new Error(`${path}: unions other than int-or-string are not structural`);
      out["x-kubernetes-int-or-string"] = true;
      continue;
    }
    if (key === "properties") {
      out.properties = Object.fromEntries(
        Object.entries(value as Json).map(([name, child]) => [
          name,
          structural(child, `${path}.${name}`),
        ]),
      );
    } else if (key === "items" || (key === "additionalProperties" && isObject(value))) {
      out[key] = structural(value, `${path}[]`);
    } else {
      out[key] = value;
    }
  }
  if (
    !("type" in out) &&
    !out["x-kubernetes-int-or-string"] &&
    !out["x-kubernetes-preserve-unknown-fields"]
  ) {
    throw new Error(`${path}: every field of a structural schema needs a type`);
  }
  return out;
}

export function openApiSchema(schema: z.ZodType, path = "spec"): Json {
  return structural(
    z.toJSONSchema(schema, {
      target: "openapi-3.0",
      io: "input",
      reused: "inline",
      unrepresentable: "throw",
    }),
    path,
  );
}
