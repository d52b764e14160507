import type { V1CustomResourceDefinition } from "@kubernetes/client-node";
import { LABEL_KEY_PATTERN, LABEL_VALUE_PATTERN } from "../../src/k8s/names.js";

/** A CRD as Skiff shipped it before label keys and values were checked: for storing objects that today's schema refuses. */
export function withoutLabelRules(crd: V1CustomResourceDefinition): V1CustomResourceDefinition {
  const strip = (node: unknown): unknown => {
    if (Array.isArray(node)) return node.map(strip);
    if (node === null || typeof node !== "object") return node;
    const out: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(node)) {
      if (key === "x-kubernetes-validations") {
        const kept = (value as { rule: string }[]).filter((r) => !r.rule.includes(LABEL_KEY_PATTERN));
        if (kept.length > 0) out[key] = kept;
      } else if (key === "pattern" && (value === LABEL_KEY_PATTERN || value === LABEL_VALUE_PATTERN)) {
        continue;
      } else {
        out[key] = strip(value);
      }
    }
    return out;
  };
  return strip(crd) as V1CustomResourceDefinition;
}
