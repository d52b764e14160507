import { trafficModel } from "../../compile/traffic.js";
import type { HttpRuleModel, RequestMatch } from "../../ir/model.js";
import { isDeepStrictEqual } from "node:util";
import { refOf, type Analyzer } from "../analyzer.js";
import type { Detection } from "../finding.js";

/**
 * An HTTP rule that can never take a request, because an earlier rule
 * takes every request it matches (the first matching rule wins). Istio's
 * IST0130 VirtualServiceUnreachableRule, a warning there too.
 */
export const trafficShadowedRule: Analyzer = {
  code: "SKF0104",
  severity: "warning",
  name: "ShadowedRule",
  fix: "Move the rule above the broader one, narrow the earlier rule, or delete the rule.",
  analyze: (view) =>
    view.snapshot.trafficPolicies.flatMap((policy): Detection[] => {
      const rules = trafficModel(policy).http;
      return rules.flatMap((rule, index) => {
        const earlier = rules.slice(0, index).findIndex((e) => covers(e, rule));
        if (earlier === -1) return [];
        return [
          {
            object: refOf("TrafficPolicy", policy.metadata),
            field: `spec.http[${index}]`,
            message: `rule ${quote(rule.name)} never matches: rule ${quote(rules[earlier]!.name)} (spec.http[${earlier}]) comes first and matches every request it would`,
          },
        ];
      });
    }),
};

const quote = (name: string) => JSON.stringify(name);

/** Whether every request `later` matches is matched by `earlier`. */
export function covers(earlier: HttpRuleModel, later: HttpRuleModel): boolean {
  const all: RequestMatch = { headers: [], queryParams: [] };
  const earlierMatches = earlier.matches.length === 0 ? [all] : earlier.matches;
  const laterMatches = later.matches.length === 0 ? [all] : later.matches;
  return laterMatches.every((l) => earlierMatches.some((e) => matchCovers(e, l)));
}

/**
 * Whether one match implies another, judged conservatively: only what can be
 * shown without reasoning about regexes. A condition of `earlier` holds for
 * `later`'s requests when `later` has the same condition, or, for the path,
 * a prefix or exact path that starts with `earlier`'s prefix (a prefix
 * compares the whole :path, and a path that starts with the exact path
 * starts with the prefix too).
 */
function matchCovers(earlier: RequestMatch, later: RequestMatch): boolean {
  if (earlier.method !== undefined && earlier.method !== later.method) return false;
  if (earlier.path !== undefined) {
    const path = later.path;
    if (path === undefined) return false;
    const samePath = isDeepStrictEqual(earlier.path, path);
    const underPrefix =
      earlier.path.kind === "Prefix" &&
      (path.kind === "Prefix" || path.kind === "Exact") &&
      path.value.startsWith(earlier.path.value);
    if (!samePath && !underPrefix) return false;
  }
  const has = (list: RequestMatch["headers"], condition: RequestMatch["headers"][number]) =>
    list.some((c) => isDeepStrictEqual(c, condition));
  return (
    earlier.headers.every((h) => has(later.headers, h)) &&
    earlier.queryParams.every((q) => has(later.queryParams, q))
  );
}
