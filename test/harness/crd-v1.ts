// apiextensions.k8s.io/v1beta1 CustomResourceDefinitions made v1, mechanically, for CRDs that
// projects still publish as v1beta1 (which kube-apiserver stopped serving in 1.22). The schema
// is kept as it is; only what v1 moved or requires changes:
//
// - spec.validation, spec.subresources and spec.additionalPrinterColumns (JSONPath becomes
//   jsonPath) move into each of spec.versions, which spec.version alone implies when absent.
// - v1 wants structural schemas: a node without a type gets the one its keywords imply (object
//   for properties or additionalProperties, array for items); one that implies none is refused,
//   as no type could be given to it without changing what it accepts.
// - v1 prunes the fields a schema does not name, as the v1 copies that meshes ship do, where
//   v1beta1 kept them unless told otherwise (spec.preserveUnknownFields, which v1 refuses). An
//   object that names no fields at all keeps its content with x-kubernetes-preserve-unknown-fields,
//   as it did under v1beta1.

type Json = { [key: string]: unknown };

const isObject = (v: unknown): v is Json =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * One schema node made structural, its children first. Branches of allOf/anyOf/oneOf/not stay
 * untyped: v1 wants the type on the node that holds them. The root's metadata is the apiserver's
 * own (v1 allows it to restrict name and generateName only), so it stays as it is.
 */
function structural(node: Json, path: string, typed = true, root = false): Json {
  const out: Json = { ...node };
  if (isObject(node.properties)) {
    out.properties = Object.fromEntries(
      Object.entries(node.properties).map(([name, child]) => [
        name,
        root && name === "metadata" ? child : structural(child as Json, `${path}.${name}`),
      ]),
    );
  }
  if (isObject(node.items)) out.items = structural(node.items, `${path}[]`);
  if (isObject(node.additionalProperties))
    out.additionalProperties = structural(node.additionalProperties, `${path}{}`);
  for (const key of ["allOf", "anyOf", "oneOf"]) {
    if (Array.isArray(node[key]))
      out[key] = (node[key] as Json[]).map((b, i) => structural(b, `${path}.${key}[${i}]`, false));
  }
  if (isObject(node.not)) out.not = structural(node.not, `${path}.not`, false);

  const typedOut = typed ? withType(out, path) : out;
  if (typedOut.type === "object" && !("properties" in out) && !("additionalProperties" in out))
    typedOut["x-kubernetes-preserve-unknown-fields"] = true;
  return typedOut;
}

function withType(node: Json, path: string): Json {
  if ("type" in node || node["x-kubernetes-int-or-string"]) return node;
  if ("properties" in node || "additionalProperties" in node) return { type: "object", ...node };
  if ("items" in node) return { type: "array", ...node };
  if (node["x-kubernetes-preserve-unknown-fields"]) return node;
  throw new Error(`${path}: no type, and nothing in the schema implies one`);
}

const printerColumn = ({ JSONPath, ...rest }: Json): Json =>
  JSONPath === undefined ? rest : { ...rest, jsonPath: JSONPath };

/** One CRD document as v1 (a v1 one as it is); throws on what has no mechanical v1 form. */
export function crdToV1(crd: Json): Json {
  if (crd.apiVersion === "apiextensions.k8s.io/v1") return crd;
  if (crd.apiVersion !== "apiextensions.k8s.io/v1beta1" || crd.kind !== "CustomResourceDefinition")
    throw new Error(`not a CustomResourceDefinition: ${crd.apiVersion} ${crd.kind}`);
  const name = String((crd.metadata as Json | undefined)?.name);
  const {
    version,
    versions,
    validation,
    subresources,
    additionalPrinterColumns,
    preserveUnknownFields: _preserve,
    conversion,
    ...rest
  } = crd.spec as Json;
  const strategy = isObject(conversion) ? conversion.strategy : "None";
  if (strategy !== "None")
    throw new Error(`${name}: conversion strategy ${strategy} has no mechanical v1 form`);
  const listed = Array.isArray(versions)
    ? (versions as Json[])
    : [{ name: version, served: true, storage: true }];
  return {
    ...crd,
    apiVersion: "apiextensions.k8s.io/v1",
    spec: {
      ...rest,
      versions: listed.map(({ schema, ...v }) => {
        const given = (schema ?? validation) as Json | undefined;
        if (!isObject(given?.openAPIV3Schema))
          throw new Error(`${name} ${v.name}: no schema, which v1 requires of every version`);
        const columns = (v.additionalPrinterColumns ?? additionalPrinterColumns) as
          | Json[]
          | undefined;
        const sub = v.subresources ?? subresources;
        return {
          ...v,
          schema: {
            openAPIV3Schema: structural(given.openAPIV3Schema, `${name} ${v.name}`, true, true),
          },
          ...(sub ? { subresources: sub } : {}),
          ...(columns ? { additionalPrinterColumns: columns.map(printerColumn) } : {}),
        };
      }),
    },
  };
}
