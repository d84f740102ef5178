import { readFileSync } from "node:fs";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseAllDocuments } from "yaml";
import {
  AnalysisTemplateSpec,
  TEMPLATE_PLURALS,
  type TemplateObject,
  templateObject,
} from "../api/analysis-template.ts";
import { LABELS } from "../api/names.ts";
import { parseAs } from "../api/parse.ts";
import { GATEWAY_GROUP, GROUP, PLURAL, TEMPLATE_KINDS, VERSION } from "../api/rollout.ts";
import { METRICS_GROUP, SPECS_GROUP, SPLIT_GROUP, SPLIT_VERSIONS } from "../api/smi.ts";
import type { KubeClient, KubeError } from "../kube/client.ts";
import { routeView, verdictOf } from "../traffic/gateway/http-route.ts";
import { ROUTE_CRD, ROUTE_VERSIONS, routeApi } from "../traffic/gateway/route-api.ts";
import { rolloutsPath } from "./rollouts.ts";

export type CheckItem = { name: string; outcome: "ok" | "fail" | "skip"; detail: string };

export const CHECKS = [
  "crd",
  "templates",
  "trafficsplit",
  "httproutegroup",
  "httproute",
  "rbac",
  "trafficmetrics",
  "prometheus",
] as const;
export type CheckName = (typeof CHECKS)[number];

export type CheckOptions = {
  /** The controller's ServiceAccount; deploy/base/rbac.yaml's when undefined. */
  serviceAccount?: { namespace: string; name: string };
  prometheusAddress?: string;
  skip: readonly CheckName[];
  /** The namespace whose Rollouts and HTTPRoutes are looked at; every namespace when undefined. */
  namespace?: string | undefined;
  /** deploy/base/rbac.yaml's text: what the controller needs. */
  rbacYaml: string;
};

/** deploy/ sits two levels above this module both in src/cli and in dist/cli. */
export const readDeployRbac = () =>
  readFileSync(join(import.meta.dirname, "../../deploy/base/rbac.yaml"), "utf8");

export type Permission = {
  group: string;
  resource: string;
  subresource?: string;
  verb: string;
  /** The one object the rule names (resourceNames), when it names any. */
  name?: string;
  /** Granted by a Role in the controller's namespace rather than cluster-wide. */
  namespaced: boolean;
};

type Rule = { apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] };
type RbacDoc = {
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Rule[];
};

/**
 * What the controller needs, read from the install manifests rather than restated here: every
 * verb on every resource of the ClusterRole and Roles in deploy/base/rbac.yaml, and the
 * ServiceAccount they are bound to.
 */
export function requiredAccess(rbacYaml: string): {
  serviceAccount: { namespace: string; name: string };
  permissions: Permission[];
} {
  const docs = parseAllDocuments(rbacYaml).map((d) => d.toJS() as RbacDoc);
  const sa = docs.find((d) => d.kind === "ServiceAccount");
  if (!sa?.metadata.namespace)
    throw new Error("deploy/base/rbac.yaml has no namespaced ServiceAccount");
  const permissions = docs
    .filter((d) => d.kind === "ClusterRole" || d.kind === "Role")
    .flatMap((d) =>
      (d.rules ?? []).flatMap((rule) =>
        rule.apiGroups.flatMap((group) =>
          rule.resources.flatMap((resource) => {
            const [base = resource, subresource] = resource.split("/");
            return rule.verbs.flatMap((verb) =>
              (rule.resourceNames ?? [undefined]).map((name) => ({
                group,
                resource: base,
                subresource,
                verb,
                name,
                namespaced: d.kind === "Role",
              })),
            );
          }),
        ),
      ),
    );
  return {
    serviceAccount: { namespace: sa.metadata.namespace, name: sa.metadata.name },
    permissions,
  };
}

export const describePermission = (p: Permission) =>
  `${p.verb} ${p.resource}${p.subresource ? `/${p.subresource}` : ""}${p.group ? `.${p.group}` : ""}${p.name ? ` ${p.name}` : ""}`;

type Crd = {
  spec: { versions: { name: string; served: boolean }[] };
  status?: { conditions?: { type: string; status: string; message?: string }[] };
};

/** A failed read as a reason: what is missing says how to fix it; anything else is passed on. */
const unreadable = (what: string, error: KubeError, missing: string) =>
  error.reason === "NotFound" ? missing : `cannot read ${what}: ${error.reason}: ${error.message}`;

const crdPath = (name: string) => `/apis/apiextensions.k8s.io/v1/customresourcedefinitions/${name}`;

/** A CRD's state in one phrase: which versions are served, and whether it is Established. */
function judgeCrd(
  name: string,
  got: { ok: true; value: Crd } | { ok: false; error: KubeError },
  wanted: readonly string[],
): { ok: true; served: string[] } | { ok: false; detail: string } {
  if (!got.ok)
    return {
      ok: false,
      detail: unreadable(
        `CustomResourceDefinition ${name}`,
        got.error,
        `CustomResourceDefinition ${name} is not installed`,
      ),
    };
  const established = got.value.status?.conditions?.find((c) => c.type === "Established");
  if (established?.status !== "True")
    return {
      ok: false,
      detail: `${name} is not Established${established?.message ? `: ${established.message}` : ""}`,
    };
  const served = got.value.spec.versions
    .filter((v) => v.served && wanted.includes(v.name))
    .map((v) => v.name);
  if (served.length === 0)
    return {
      ok: false,
      detail: `${name} serves none of the versions Fledge speaks (${wanted.join(", ")})`,
    };
  return { ok: true, served };
}

async function crdCheck(
  client: KubeClient,
  name: CheckName,
  crd: string,
  wanted: readonly string[],
): Promise<CheckItem> {
  const judged = judgeCrd(crd, await client.get<Crd>(crdPath(crd)), wanted);
  return judged.ok
    ? { name, outcome: "ok", detail: `${crd} Established, serving ${judged.served.join(", ")}` }
    : { name, outcome: "fail", detail: judged.detail };
}

type List<T> = { items?: T[] };
type RolloutItem = {
  metadata: { name: string; namespace?: string };
  spec?: { trafficRouting?: { gatewayAPI?: unknown } };
};

/** At most three names, and how many more: enough to find them, short enough for one line. */
const some = (names: string[]) =>
  names.slice(0, 3).join(", ") + (names.length > 3 ? ` and ${names.length - 3} more` : "");

const where = (namespace: string | undefined) =>
  namespace ? `in namespace ${namespace}` : "in any namespace";

/**
 * The Gateway API router's preflight: the HTTPRoute CRD Established, the versions Fledge writes
 * served (and whether their schemas hold what A/B rules and setMirror need), and whether the
 * parents of the routes Rollouts steer answer at all. Like the SMI items it fails on a CRD that
 * is missing, but only when a Rollout uses trafficRouting.gatewayAPI: SMI is the default router,
 * the Gateway API one a Rollout asks for.
 */
export async function httpRouteCheck(
  client: KubeClient,
  namespace: string | undefined,
): Promise<CheckItem> {
  const name = "httproute";
  const got = await client.get<Crd>(crdPath(ROUTE_CRD));
  if (!got.ok && got.error.reason === "NotFound") {
    const rollouts = await client.get<List<RolloutItem>>(rolloutsPath(namespace));
    if (!rollouts.ok)
      return {
        name,
        outcome: "fail",
        detail: `CustomResourceDefinition ${ROUTE_CRD} is not installed, and whether a Rollout needs it is unknown: cannot list Rollouts: ${rollouts.error.reason}: ${rollouts.error.message}`,
      };
    const users = (rollouts.value.items ?? [])
      .filter((r) => r.spec?.trafficRouting?.gatewayAPI !== undefined)
      .map((r) => `${r.metadata.namespace}/${r.metadata.name}`)
      .sort();
    return users.length === 0
      ? {
          name,
          outcome: "skip",
          detail: `CustomResourceDefinition ${ROUTE_CRD} is not installed; no Rollout ${where(namespace)} uses trafficRouting.gatewayAPI`,
        }
      : {
          name,
          outcome: "fail",
          detail: `CustomResourceDefinition ${ROUTE_CRD} is not installed, but ${some(users)} ${users.length === 1 ? "uses trafficRouting.gatewayAPI and reports" : "use trafficRouting.gatewayAPI and report"} RoutingUnavailable: install the Gateway API's CRDs`,
        };
  }
  const judged = judgeCrd(ROUTE_CRD, got, ROUTE_VERSIONS);
  if (!judged.ok) return { name, outcome: "fail", detail: judged.detail };
  const api = `${ROUTE_CRD} Established, serving ${judged.served.join(", ")}`;
  const served = routeApi(got.ok ? got.value : undefined)?.served ?? [];
  const lacking = served.flatMap((v) => {
    const missing = [
      ...(v.ruleNames ? [] : ["rules[].name (A/B matches)"]),
      ...(v.mirrorPercent ? [] : ["requestMirror.percent (setMirror)"]),
    ];
    return missing.length ? [`${v.version} lacks ${missing.join(" and ")}`] : [];
  });
  const schema = lacking.length ? ` (${lacking.join("; ")})` : "";
  const newest = served[served.length - 1]?.version ?? judged.served[0];
  const listed = await client.request<List<unknown>>(
    "GET",
    `/apis/${GATEWAY_GROUP}/${newest}${namespace ? `/namespaces/${namespace}` : ""}/httproutes`,
    undefined,
    undefined,
    { labelSelector: LABELS.rollout },
  );
  if (!listed.ok)
    return {
      name,
      outcome: "fail",
      detail: `${api}${schema}; cannot list HTTPRoutes: ${listed.error.reason}: ${listed.error.message}`,
    };
  const views = (listed.value.items ?? []).flatMap((raw) => {
    const view = routeView(raw);
    return view ? [view] : [];
  });
  if (views.length === 0)
    return {
      name,
      outcome: "ok",
      detail: `${api}${schema}; no HTTPRoute of a Rollout ${where(namespace)} yet`,
    };
  const judgedRoutes = views.map((v) => ({
    route: `${v.metadata.namespace}/${v.metadata.name}`,
    verdict: verdictOf(v),
  }));
  const count = (status: string) => judgedRoutes.filter((r) => r.verdict.status === status);
  const refused = count("False");
  const counts = `${views.length} HTTPRoute${views.length === 1 ? "" : "s"} of Rollouts ${where(namespace)}: ${count("True").length} accepted by every parent, ${refused.length} refused, ${count("Unknown").length} pending`;
  if (refused.length)
    return {
      name,
      outcome: "fail",
      detail: `${api}${schema}; ${counts}: ${refused.map((r) => `${r.route}: ${r.verdict.message}`).join("; ")}`,
    };
  // A route just made has no status for a moment; every route without any is no controller at all.
  if (views.every((v) => v.parents.length === 0))
    return {
      name,
      outcome: "fail",
      detail: `${api}${schema}; ${counts}, and no controller has written the status of any of them: is a GAMMA mesh or a Gateway controller serving their parents? Rollouts hold at each step until the parents accept the route`,
    };
  return { name, outcome: "ok", detail: `${api}${schema}; ${counts}` };
}

const plural = (n: number, word: string) => `${n} ${word}${n === 1 ? "" : "s"}`;

const STORAGE_RETRIES = 10;
const STORAGE_RETRY_MS = 500;

/**
 * A read of a custom resource, asked again while the apiserver answers 429: it makes a CRD's
 * storage on the first request for the kind and refuses requests ("storage is (re)initializing")
 * until its watch cache has listed, so the first check after applying crds/ would fail for it.
 */
async function getCustom<T>(client: KubeClient, path: string) {
  for (let attempt = 1; ; attempt++) {
    const got = await client.get<T>(path);
    if (got.ok || got.error.status !== 429 || attempt === STORAGE_RETRIES) return got;
    await sleep(STORAGE_RETRY_MS);
  }
}

/**
 * The shared analysis: both template kinds' CRDs Established, how many templates there are,
 * and which fail their schema (each Rollout naming one is held with TemplateInvalid). Args are
 * a Rollout's to give, so only its own status can say whether they fit.
 */
export async function templatesCheck(
  client: KubeClient,
  namespace: string | undefined,
): Promise<CheckItem> {
  const name = "templates";
  const counts: string[] = [];
  const missing: string[] = [];
  const invalid: string[] = [];
  for (const kind of TEMPLATE_KINDS) {
    const crd = `${TEMPLATE_PLURALS[kind]}.${GROUP}`;
    const judged = judgeCrd(crd, await client.get<Crd>(crdPath(crd)), [VERSION]);
    if (!judged.ok) {
      missing.push(judged.detail);
      continue;
    }
    const scope = kind === "AnalysisTemplate" ? namespace : undefined;
    const listed = await getCustom<List<unknown>>(
      client,
      `/apis/${GROUP}/${VERSION}${scope ? `/namespaces/${scope}` : ""}/${TEMPLATE_PLURALS[kind]}`,
    );
    if (!listed.ok)
      return {
        name,
        outcome: "fail",
        detail: `cannot list ${kind}s: ${listed.error.reason}: ${listed.error.message}`,
      };
    const templates = (listed.value.items ?? []).flatMap((raw): TemplateObject[] => {
      const t = templateObject(kind)(raw);
      return t ? [t] : [];
    });
    counts.push(
      `${plural(templates.length, kind)}${kind === "AnalysisTemplate" ? ` ${where(namespace)}` : ""}`,
    );
    for (const t of templates) {
      const parsed = parseAs(AnalysisTemplateSpec, t.spec, "spec");
      const { namespace: ns, name: n } = t.metadata;
      if (!parsed.ok) invalid.push(`${kind} ${ns ? `${ns}/` : ""}${n}: ${parsed.error}`);
    }
  }
  if (missing.length)
    return {
      name,
      outcome: "fail",
      detail: `${missing.join("; ")}: apply crds/ (a Rollout naming a template is held with TemplateNotFound until then)`,
    };
  if (invalid.length)
    return {
      name,
      outcome: "fail",
      detail: `${counts.join(", ")}; ${invalid.length} invalid: ${invalid.join("; ")}`,
    };
  return { name, outcome: "ok", detail: `${counts.join(", ")}; none invalid` };
}

type Review = { status?: { allowed?: boolean; reason?: string } };

async function rbacCheck(
  client: KubeClient,
  rbacYaml: string,
  override: CheckOptions["serviceAccount"],
): Promise<CheckItem> {
  const required = requiredAccess(rbacYaml);
  const sa = override ?? required.serviceAccount;
  const subject = `system:serviceaccount:${sa.namespace}:${sa.name}`;
  const exists = await client.get(`/api/v1/namespaces/${sa.namespace}/serviceaccounts/${sa.name}`);
  if (!exists.ok)
    return {
      name: "rbac",
      outcome: "fail",
      detail: unreadable(
        `ServiceAccount ${sa.namespace}/${sa.name}`,
        exists.error,
        `ServiceAccount ${sa.namespace}/${sa.name} does not exist (apply deploy/, or pass --service-account NAMESPACE/NAME)`,
      ),
    };
  const reviews = await Promise.all(
    required.permissions.map(async (p) => {
      const review = await client.create<Review>(
        "/apis/authorization.k8s.io/v1/subjectaccessreviews",
        {
          apiVersion: "authorization.k8s.io/v1",
          kind: "SubjectAccessReview",
          spec: {
            user: subject,
            groups: ["system:serviceaccounts", `system:serviceaccounts:${sa.namespace}`],
            resourceAttributes: {
              group: p.group,
              resource: p.resource,
              subresource: p.subresource,
              verb: p.verb,
              name: p.name,
              namespace: p.namespaced ? sa.namespace : undefined,
            },
          },
        },
      );
      return { p, review };
    }),
  );
  const failed = reviews.find((r) => !r.review.ok);
  if (failed && !failed.review.ok)
    return {
      name: "rbac",
      outcome: "fail",
      detail: `cannot ask the apiserver what ${subject} may do (SubjectAccessReview): ${failed.review.error.reason}: ${failed.review.error.message}`,
    };
  const denied = reviews
    .filter((r) => r.review.ok && r.review.value.status?.allowed !== true)
    .map((r) => describePermission(r.p) + (r.p.namespaced ? ` in ${sa.namespace}` : ""));
  return denied.length === 0
    ? {
        name: "rbac",
        outcome: "ok",
        detail: `${subject} may do all ${reviews.length} things deploy/base/rbac.yaml grants`,
      }
    : { name: "rbac", outcome: "fail", detail: `${subject} may not ${denied.join(", ")}` };
}

type ApiService = {
  status?: { conditions?: { type: string; status: string; reason?: string; message?: string }[] };
};

async function trafficMetricsCheck(client: KubeClient): Promise<CheckItem> {
  const name = `v1alpha1.${METRICS_GROUP}`;
  const got = await client.get<ApiService>(`/apis/apiregistration.k8s.io/v1/apiservices/${name}`);
  if (!got.ok)
    return {
      name: "trafficmetrics",
      outcome: "fail",
      detail: unreadable(
        `APIService ${name}`,
        got.error,
        `APIService ${name} is not registered: install the mesh's SMI metrics API, or --skip trafficmetrics when every metric uses Prometheus`,
      ),
    };
  const available = got.value.status?.conditions?.find((c) => c.type === "Available");
  return available?.status === "True"
    ? { name: "trafficmetrics", outcome: "ok", detail: `APIService ${name} is Available` }
    : {
        name: "trafficmetrics",
        outcome: "fail",
        detail: `APIService ${name} is not Available: ${available?.reason ?? "no condition yet"}${available?.message ? ` (${available.message})` : ""}`,
      };
}

const PROMETHEUS_TIMEOUT_MS = 5_000;

/** An instant query, not just /-/ready: Fledge needs the query API, which some proxies alone expose. */
export async function prometheusCheck(address: string | undefined): Promise<CheckItem> {
  const name = "prometheus";
  if (!address)
    return {
      name,
      outcome: "fail",
      detail:
        "no Prometheus address: pass --prometheus-address URL (the controller's), or --skip prometheus when no metric uses Prometheus",
    };
  const url = `${address.replace(/\/+$/, "")}/api/v1/query?query=vector(1)`;
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(PROMETHEUS_TIMEOUT_MS) });
    const body = (await response.json().catch(() => ({}))) as { status?: string; error?: string };
    if (response.ok && body.status === "success")
      return { name, outcome: "ok", detail: `${address} answers queries` };
    return {
      name,
      outcome: "fail",
      detail: `${address} answered HTTP ${response.status}${body.error ? `: ${body.error}` : " without a query result"}`,
    };
  } catch (error) {
    const cause = (error as { cause?: { message?: string } }).cause?.message;
    return {
      name,
      outcome: "fail",
      detail: `${address} does not answer: ${cause ?? (error as Error).message}`,
    };
  }
}

/** The preflight, one item per thing Fledge relies on, in the order a person would fix them. */
export async function runChecks(client: KubeClient, options: CheckOptions): Promise<CheckItem[]> {
  const run: Record<CheckName, () => Promise<CheckItem>> = {
    crd: () => crdCheck(client, "crd", `${PLURAL}.${GROUP}`, [VERSION]),
    templates: () => templatesCheck(client, options.namespace),
    trafficsplit: () =>
      crdCheck(client, "trafficsplit", `trafficsplits.${SPLIT_GROUP}`, SPLIT_VERSIONS),
    httproutegroup: () =>
      crdCheck(client, "httproutegroup", `httproutegroups.${SPECS_GROUP}`, [
        "v1alpha3",
        "v1alpha4",
      ]),
    httproute: () => httpRouteCheck(client, options.namespace),
    rbac: () => rbacCheck(client, options.rbacYaml, options.serviceAccount),
    trafficmetrics: () => trafficMetricsCheck(client),
    prometheus: () => prometheusCheck(options.prometheusAddress),
  };
  return Promise.all(
    CHECKS.map((name) =>
      options.skip.includes(name)
        ? Promise.resolve<CheckItem>({ name, outcome: "skip", detail: "skipped (--skip)" })
        : run[name](),
    ),
  );
}
