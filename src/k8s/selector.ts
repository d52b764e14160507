import { LABEL_KEY_RULES, labelKeyProblem, labelValueProblem } from "./names.js";

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

/**
 * What makes a selector one the API server would refuse: label keys and
 * values that break Kubernetes' label rules. Such a selector can never
 * match, so acting on it would silently select nothing. Fields are relative
 * to the selector (`matchLabels`, `matchExpressions[0].values[1]`).
 */
export function selectorProblems(selector: LabelSelector): { field: string; message: string }[] {
  const problems: { field: string; message: string }[] = [];
  for (const [key, value] of Object.entries(selector.matchLabels ?? {})) {
    if (labelKeyProblem(key))
      problems.push({
        field: "matchLabels",
        message: `keys must be label keys: ${LABEL_KEY_RULES}; ${JSON.stringify(key)} is not`,
      });
    const valueProblem = labelValueProblem(value);
    if (valueProblem) problems.push({ field: `matchLabels.${key}`, message: valueProblem });
  }
  (selector.matchExpressions ?? []).forEach(({ key, values = [] }, i) => {
    const keyProblem = labelKeyProblem(key);
    if (keyProblem) problems.push({ field: `matchExpressions[${i}].key`, message: keyProblem });
    values.forEach((value, j) => {
      const valueProblem = labelValueProblem(value);
      if (valueProblem)
        problems.push({ field: `matchExpressions[${i}].values[${j}]`, message: valueProblem });
    });
  });
  return problems;
}
