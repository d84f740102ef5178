import { z } from "zod";
import { type TemplateObject, templateKindOf } from "../api/analysis-template.ts";
import type { TemplateKind } from "../api/rollout.ts";
import type { WatchEventType } from "../kube/informer.ts";
import type { RolloutObject } from "./rollout-object.ts";
import { RolloutRefs } from "./rollout-refs.ts";

const key = (kind: TemplateKind, namespace: string | undefined, name: string) =>
  kind === "AnalysisTemplate" ? `${kind}/${namespace ?? ""}/${name}` : `${kind}/${name}`;

const Refs = z.object({
  analysis: z.object({
    templates: z.array(z.object({ name: z.string(), clusterScope: z.boolean().optional() })),
  }),
});

/** The templates a Rollout's spec names, read before it is parsed (a bad spec names none). */
function templatesOf(r: RolloutObject): string[] {
  const refs = Refs.safeParse(r.spec);
  if (!refs.success) return [];
  return refs.data.analysis.templates.map((t) =>
    key(templateKindOf({ clusterScope: t.clusterScope ?? false }), r.metadata.namespace, t.name),
  );
}

/**
 * Which Rollouts name each template, fed by the Rollouts' events: a template's change wakes
 * just those, so a TemplateNotFound clears on the template's creation, with no periodic look.
 */
export class TemplateUsers {
  private readonly refs = new RolloutRefs(templatesOf);

  rolloutChanged(type: WatchEventType, r: RolloutObject): void {
    this.refs.rolloutChanged(type, r);
  }

  /** The keys of the Rollouts that name this template. */
  of(t: TemplateObject): string[] {
    return this.refs.of(key(t.kind, t.metadata.namespace, t.metadata.name));
  }
}
