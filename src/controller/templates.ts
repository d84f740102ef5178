import type { TemplateCatalog } from "../analysis/templates.ts";
import { TEMPLATE_PLURALS, type TemplateObject, templateObject } from "../api/analysis-template.ts";
import { GROUP, TEMPLATE_KINDS, type TemplateKind, VERSION } from "../api/rollout.ts";
import { scoped } from "../kube/informer.ts";
import { crdVersions, crdWatched } from "../traffic/crd-watched.ts";
import type { TrafficOptions } from "../traffic/router.ts";

/** What the template caches tell the controller, which wakes the Rollouts concerned. */
export type TemplateHooks = {
  /** A template appeared, changed or went. */
  templateChanged(t: TemplateObject): void;
  /** A kind's CRD came or went: Rollouts that found no template may find one now. */
  apiChanged(): void;
  reconnected(): void;
};

/**
 * The AnalysisTemplates and ClusterAnalysisTemplates, each kind watched once its CRD is
 * Established, so a controller on a cluster without them runs on (a Rollout naming one is held
 * with TemplateNotFound) and one installed later is seen at once. Templates are few and small:
 * every one is cached, unfiltered.
 */
export function templateCaches(options: TrafficOptions, hooks: TemplateHooks) {
  const kinds = TEMPLATE_KINDS.map((kind) => {
    const plural = TEMPLATE_PLURALS[kind];
    const api = crdWatched<string, TemplateObject>(
      options,
      {
        objectChanged: (o) => hooks.templateChanged(o as TemplateObject),
        apiChanged: hooks.apiChanged,
        reconnected: hooks.reconnected,
      },
      {
        crd: `${plural}.${GROUP}`,
        kind,
        served: (raw) => {
          const crd = crdVersions(raw);
          return (
            crd && {
              metadata: { name: crd.name },
              served: crd.versions.has(VERSION) ? [VERSION] : [],
            }
          );
        },
        objects: () => ({
          path: scoped(
            kind === "AnalysisTemplate" ? options.namespace : undefined,
            `/apis/${GROUP}/${VERSION}`,
            plural,
          ),
          transform: templateObject(kind),
        }),
      },
    );
    return [kind, api] as const;
  });
  const byKind = new Map<TemplateKind, (typeof kinds)[number][1]>(kinds);
  const catalog: TemplateCatalog = {
    list: (kind, namespace) =>
      byKind
        .get(kind)
        ?.list()
        ?.filter((t) => kind !== "AnalysisTemplate" || t.metadata.namespace === namespace),
  };
  return {
    catalog,
    informers: () => kinds.flatMap(([, api]) => api.informers()),
    start: async () => {
      await Promise.all(kinds.map(([, api]) => api.start()));
    },
  };
}
