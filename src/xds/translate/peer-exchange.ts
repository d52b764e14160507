import type { JsonObject } from "@bufbuild/protobuf";
import { literal } from "./authorization.js";
import { typed } from "./json.js";

/**
 * How the server's sidecar learns who called and which Service it called,
 * for the `reporter="destination"` metrics. Istio's sidecars exchange
 * metadata in `x-envoy-peer-metadata` headers, with a filter upstream Envoy
 * lacks; Skiff does the same with filters upstream Envoy has:
 *
 * - The client's sidecar sets `x-skiff-peer-workload` (its Pod) and
 *   `x-skiff-peer-service` (the Service it routed to) on every request of
 *   its outbound HTTP listeners ({@link announcePeer}), overwriting whatever
 *   the application sent, so an application cannot speak for its sidecar.
 * - The server's sidecar moves them into dynamic metadata and removes them,
 *   first of its HTTP filters ({@link receivePeer}), so the application and
 *   the policy filters never see them, on every chain, plaintext included.
 *   The caller's namespace is not announced: the same filter cuts it out of
 *   the SPIFFE ID of the caller's certificate, as the connection manager has
 *   just written it in `x-forwarded-client-cert` (it drops any such header
 *   that a caller sent).
 * - Its metrics believe the announcement only from a caller with a
 *   certificate of the mesh's trust domain ({@link claimedPeer}): a plaintext
 *   caller is `unknown`, whatever it sends. The Service must be one of those
 *   that reach the port, so the labels stay bounded. The workload is the
 *   caller's word, as in Istio: only a mesh client that writes its own
 *   headers (a proxyless one) can choose it, and only within the namespace
 *   its certificate names.
 */

const HEADERS = { workload: "x-skiff-peer-workload", service: "x-skiff-peer-service" } as const;
type Announced = keyof typeof HEADERS;
type Key = Announced | "namespace";

/** The dynamic metadata namespace that holds what is known of the caller. */
const METADATA = "skiff.peer_exchange";
const UNKNOWN = "unknown";

/** The client's HTTP filter: announces its own Pod (downward-API environment) and the Service it routed to. */
export function announcePeer(destinationService: string): JsonObject {
  const set = (key: Announced, value: string) => ({
    append: { header: { key: HEADERS[key], value }, append_action: "OVERWRITE_IF_EXISTS_OR_ADD" },
  });
  return {
    name: "envoy.filters.http.header_mutation",
    typed_config: typed("envoy.extensions.filters.http.header_mutation.v3.HeaderMutation", {
      mutations: {
        request_mutations: [
          set("workload", "%ENVIRONMENT(POD_NAME)%"),
          // A header value is a format string: `%%` is a literal `%` (a hostname has none).
          set("service", destinationService.replaceAll("%", "%%")),
        ],
      },
    }),
  };
}

/**
 * The server's HTTP filter: takes the announcement off the request into
 * {@link METADATA}, with the namespace of the caller's SPIFFE ID in the
 * mesh's trust domain. `x-forwarded-client-cert` reads
 * `By=<own ID>;Hash=<hex>;URI=<caller's ID>`; any other value, or an ID of
 * another trust domain, rewrites to nothing, and nothing is stored.
 */
export function receivePeer(trustDomain: string): JsonObject {
  const domain = literal(trustDomain);
  const announced = (Object.keys(HEADERS) as Announced[]).map((key) => ({
    header: HEADERS[key],
    on_header_present: { metadata_namespace: METADATA, key, type: "STRING" },
    remove: true,
  }));
  return {
    name: "envoy.filters.http.header_to_metadata",
    typed_config: typed("envoy.extensions.filters.http.header_to_metadata.v3.Config", {
      request_rules: [
        ...announced,
        {
          header: "x-forwarded-client-cert",
          on_header_present: {
            metadata_namespace: METADATA,
            key: "namespace",
            type: "STRING",
            regex_value_rewrite: {
              pattern: { regex: `^.*;URI=spiffe://${domain}/ns/([a-z0-9-]+)/sa/[^;,/]+$|^.*$` },
              substitution: "\\1",
            },
          },
        },
      ],
    }),
  };
}

/** What the server's metrics may say of the caller: the Services that reach the port. */
export interface ClaimCheck {
  readonly services: readonly string[];
}

export interface ClaimedPeer {
  readonly source_workload: string;
  readonly source_workload_namespace: string;
  readonly destination_service: string;
}

/**
 * What the caller's sidecar announced, as CEL command operators, each
 * `unknown` without a namespace from a certificate. (Envoy's CEL has no
 * string concatenation or functions by default, and the stats logger cannot
 * turn them on: hence the namespace from the filter above, not from CEL.)
 */
export function claimedPeer(check: ClaimCheck): ClaimedPeer {
  const value = (key: Key) => `metadata.filter_metadata[${cel(METADATA)}][${cel(key)}]`;
  const has = (key: Key) => `${cel(key)} in metadata.filter_metadata[${cel(METADATA)}]`;
  // `connection.mtls` first: without a peer certificate the rest is never read (CEL's && is short-circuit).
  const verified = ["connection.mtls", `${cel(METADATA)} in metadata.filter_metadata`, has("namespace")];
  const claim = (key: Key, ...conditions: string[]) =>
    `%CEL(${[...verified, ...conditions].join(" && ")} ? ${value(key)} : ${cel(UNKNOWN)})%`;
  return {
    source_workload: claim("workload", has("workload")),
    source_workload_namespace: claim("namespace"),
    destination_service: claim(
      "service",
      has("service"),
      `${value("service")} in [${check.services.map(cel).join(", ")}]`,
    ),
  };
}

/**
 * A CEL string literal. The values come from the model (names Kubernetes has
 * validated), but a `%` would still end Envoy's `%CEL(...)%` early, so it is
 * escaped too.
 */
const cel = (value: string) => JSON.stringify(value).replaceAll("%", "\\x25");
