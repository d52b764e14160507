/** A metav1.LabelSelector. */
export interface LabelSelector {
  matchLabels?: Record<string, string | undefined>;
  matchExpressions?: {
    key: string;
    operator: "In" | "NotIn" | "Exists" | "DoesNotExist";
    values?: string[];
  }[];
}

/**
 * Whether labels satisfy a selector, with Kubernetes' semantics: every
 * matchLabels pair and every expression must hold; an empty selector matches
 * everything; NotIn and DoesNotExist hold for a missing key.
 */
export function selectorMatches(
  selector: LabelSelector,
  labels: Record<string, string> | undefined,
): boolean {
  const have = labels ?? {};
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (have[key] !== value) return false;
  }
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    const present = Object.hasOwn(have, key);
    const ok =
      operator === "In"
        ? present && values.includes(have[key]!)
        : operator === "NotIn"
          ? !present || !values.includes(have[key]!)
          : operator === "Exists"
            ? present
            : !present;
    if (!ok) return false;
  }
  return true;
}
