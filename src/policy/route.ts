import type {
  RedirectModel,
  RequestMatch,
  StringMatch,
  TrafficModel,
  ValueMatch,
  WeightedDestination,
} from "../ir/model.js";
import { WHOLE_SERVICE } from "../ir/defaults.js";
import { fullMatch } from "./re2.js";

/** An HTTP request, as routing sees it. */
export interface RouteRequest {
  readonly method: string;
  /** The :path header: the path with its query string, if any. */
  readonly path: string;
  /** Request headers; names are compared case-insensitively. Repeat a header by joining with ",". */
  readonly headers: Readonly<Record<string, string>>;
  /** The :authority header, for matchers that name it. */
  readonly host?: string;
}

/**
 * Where a request goes: a rule of the TrafficPolicy, or the whole Service when
 * none matches; or, for a redirect rule, nowhere: the client's proxy answers.
 */
export type RouteResult =
  | {
      readonly kind: "Redirect";
      /** The rule's index in spec.http. */
      readonly index: number;
      /** The rule's name, or its index when it has none. */
      readonly name: string;
      readonly redirect: RedirectModel;
    }
  | ForwardResult;

/** Where a forwarded request (or a TCP connection) goes. */
export type ForwardResult =
  | {
      readonly kind: "Rule";
      /** The rule's index in spec.http (or spec.tcp). */
      readonly index: number;
      /** The rule's name, or its index when it has none. */
      readonly name: string;
      /** The rule's destinations with their weights, in the order written. */
      readonly destinations: readonly WeightedDestination[];
    }
  | {
      readonly kind: "Default";
      /** Every endpoint of the Service: one destination without subset, weight 100. */
      readonly destinations: readonly WeightedDestination[];
    };

const DEFAULT_ROUTE: ForwardResult = { kind: "Default", destinations: WHOLE_SERVICE };

/**
 * The HTTP rule that takes a request: the first whose matches include one
 * that holds (a rule without matches takes everything), or the default route
 * to the whole Service. A redirect rule's request is not forwarded. `traffic` is undefined when no TrafficPolicy governs
 * the Service.
 */
export function routeHttp(traffic: TrafficModel | undefined, request: RouteRequest): RouteResult {
  const index = (traffic?.http ?? []).findIndex(
    (rule) => rule.matches.length === 0 || rule.matches.some((m) => requestMatches(m, request)),
  );
  const rule = traffic?.http[index];
  if (!rule) return DEFAULT_ROUTE;
  if (rule.kind === "Redirect") return { kind: "Redirect", index, name: rule.name, redirect: rule.redirect };
  return { kind: "Rule", index, name: rule.name, destinations: rule.destinations };
}

/** Where a TCP connection goes: the policy's tcp route, or the whole Service. */
export function routeTcp(traffic: TrafficModel | undefined): ForwardResult {
  if (!traffic?.tcp) return DEFAULT_ROUTE;
  return { kind: "Rule", index: 0, name: "0", destinations: traffic.tcp };
}

/** The destination that takes most of the traffic: the highest weight, the first on a tie. */
export function primaryDestination(destinations: readonly WeightedDestination[]): WeightedDestination {
  return destinations.reduce<WeightedDestination>(
    (best, d) => (d.weight > best.weight ? d : best),
    destinations[0] ?? WHOLE_SERVICE[0]!,
  );
}

/**
 * The Location of a redirect, as Envoy builds it (Utility::newUri) from the
 * request's scheme, :authority and :path:
 *
 * - the scheme is the redirect's, or the request's;
 * - with an authority, the host is replaced whole, the request's port with
 *   it; without, the request's port is dropped when the redirect sets a port,
 *   or when the scheme changes and it is the old scheme's default (80, 443);
 * - a port is appended after the host;
 * - a path replaces the whole path; the request's query string is kept unless
 *   the new path has its own.
 */
export function redirectLocation(
  redirect: RedirectModel,
  request: { readonly scheme: "http" | "https"; readonly host: string; readonly path: string },
): string {
  const scheme = redirect.scheme ?? request.scheme;
  let host = redirect.authority;
  if (host === undefined) {
    host = request.host;
    const colon = host.startsWith("[") ? host.indexOf("]:") + 1 : host.lastIndexOf(":");
    if (colon > 0) {
      const port = host.slice(colon + 1);
      const defaultPort = request.scheme === "https" ? "443" : "80";
      if (redirect.port !== undefined || (scheme !== request.scheme && port === defaultPort))
        host = host.slice(0, colon);
    }
  }
  const port = redirect.port === undefined ? "" : `:${redirect.port}`;
  let path = request.path;
  if (redirect.path !== undefined) {
    const query = request.path.indexOf("?");
    path =
      redirect.path.includes("?") || query === -1 ? redirect.path : redirect.path + request.path.slice(query);
  }
  return `${scheme}://${host}${port}${path}`;
}

/**
 * Whether a request satisfies one match, with Envoy's route semantics (the
 * conditions of one match are ANDed):
 *
 * - path `exact` and `regex` compare the path without its query string;
 *   `prefix` compares the start of the whole :path, as Envoy does;
 * - the method is an exact match on :method;
 * - a header string matcher never matches an absent header, even inverted
 *   (Envoy's treat_missing_header_as_empty defaults to false); `present`
 *   checks presence, and `invert` negates it;
 * - a query parameter matcher looks at the parameter's first value, decoded.
 */
export function requestMatches(match: RequestMatch, request: RouteRequest): boolean {
  const path = request.path;
  const pathOnly = path.split("?", 1)[0]!;
  if (match.path) {
    const ok =
      match.path.kind === "Prefix" ? path.startsWith(match.path.value) : stringMatches(match.path, pathOnly);
    if (!ok) return false;
  }
  if (match.method !== undefined && request.method !== match.method) return false;
  if (!match.headers.every((h) => headerMatches(h, headerValue(request, h.name)))) return false;
  const query = queryParams(path);
  return match.queryParams.every((q) => {
    const value = query.get(q.name);
    if (value === undefined) return false;
    return q.match.kind === "Present" ? q.match.present : stringMatches(q.match, value);
  });
}

function headerMatches(h: ValueMatch, value: string | undefined): boolean {
  if (h.match.kind === "Present") return ((value !== undefined) === h.match.present) !== h.invert;
  if (value === undefined) return false;
  return stringMatches(h.match, value) !== h.invert;
}

function headerValue(request: RouteRequest, name: string): string | undefined {
  const wanted = name.toLowerCase();
  if (wanted === ":method") return request.method;
  if (wanted === ":path") return request.path;
  if (wanted === ":authority" && request.host !== undefined) return request.host;
  for (const [k, v] of Object.entries(request.headers)) if (k.toLowerCase() === wanted) return v;
  if (wanted === ":authority") return headerValue(request, "host");
  return undefined;
}

function stringMatches(m: StringMatch, value: string): boolean {
  switch (m.kind) {
    case "Exact":
      return value === m.value;
    case "Prefix":
      return value.startsWith(m.value);
    case "Regex":
      return fullMatch(m.value, value);
  }
}

/** The first value of each query parameter, percent-decoded; `+` stays a `+`, as in Envoy. */
function queryParams(path: string): Map<string, string> {
  const params = new Map<string, string>();
  const query = path.includes("?") ? path.slice(path.indexOf("?") + 1).split("#", 1)[0]! : "";
  for (const pair of query.split("&")) {
    if (pair === "") continue;
    const eq = pair.indexOf("=");
    const name = decode(eq === -1 ? pair : pair.slice(0, eq));
    if (!params.has(name)) params.set(name, eq === -1 ? "" : decode(pair.slice(eq + 1)));
  }
  return params;
}

function decode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
