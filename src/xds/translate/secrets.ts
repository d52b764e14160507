import type { JsonObject } from "@bufbuild/protobuf";
import { compact, typed } from "./json.js";
import { CERTIFICATE_PROVIDER } from "../../mesh/proxyless.js";
import { ROOT_CA_SECRET, SDS_CLUSTER, WORKLOAD_SECRET } from "../../mesh/proxy.js";

const TLS_SOCKET = "envoy.transport_sockets.tls";
const TLS_TYPE = "envoy.extensions.transport_sockets.tls.v3";

/**
 * An SDS secret by name, fetched from the sidecar's skiff agent (the
 * bootstrap's SDS_CLUSTER, a Unix socket in the Pod): it made the key, which
 * never leaves the Pod. No initial fetch timeout: a listener or cluster
 * waits for its certificate rather than go live without one (Envoy is then
 * not Ready, as with its first configuration).
 */
const sdsSecret = (name: string): JsonObject => ({
  name,
  sds_config: {
    api_config_source: {
      api_type: "GRPC",
      transport_api_version: "V3",
      grpc_services: [{ envoy_grpc: { cluster_name: SDS_CLUSTER } }],
    },
    initial_fetch_timeout: "0s",
    resource_api_version: "V3",
  },
});

/**
 * The server side of mTLS on a sidecar's inbound chain:
 *
 * - presents the workload certificate (`default`) and requires a client
 *   certificate that chains to the mesh's trust bundle (`ROOTCA`) and names
 *   a SPIFFE ID of the mesh's trust domain (a URI SAN under
 *   `spiffe://<trustDomain>/`), as Istio's inbound does: a root in the
 *   bundle may vouch for other trust domains too (a shared root, a root
 *   being rotated in), and their workloads are not this mesh's peers. Any
 *   identity of the trust domain is accepted here; AuthorizationPolicy
 *   decides who may do what with the identity it then sees;
 * - offers h2 and http/1.1 by ALPN, as Istio's inbound does.
 */
export function downstreamTlsSocket(trustDomain: string): JsonObject {
  return {
    name: TLS_SOCKET,
    typed_config: typed(`${TLS_TYPE}.DownstreamTlsContext`, {
      require_client_certificate: true,
      common_tls_context: {
        tls_certificate_sds_secret_configs: [sdsSecret(WORKLOAD_SECRET)],
        combined_validation_context: {
          default_validation_context: {
            match_typed_subject_alt_names: [
              { san_type: "URI", matcher: { prefix: `spiffe://${trustDomain}/` } },
            ],
          },
          validation_context_sds_secret_config: sdsSecret(ROOT_CA_SECRET),
        },
        alpn_protocols: ["h2", "http/1.1"],
      },
    }),
  };
}

/**
 * The client side of mTLS toward mesh endpoints:
 *
 * - presents the workload certificate, and verifies the server's chain
 *   against `ROOTCA` and its URI SAN against `sans` (the SPIFFE IDs of the
 *   endpoints' ServiceAccounts), so a certificate of another identity is
 *   refused even when the mesh CA signed it;
 * - sends Istio's SNI, and ALPN only where the port has an application
 *   protocol (HTTP/2 or HTTP/1.1; none for opaque TCP).
 */
export function upstreamTlsSocket(sans: readonly string[], sni: string, alpn: readonly string[]): JsonObject {
  return {
    name: TLS_SOCKET,
    typed_config: typed(
      `${TLS_TYPE}.UpstreamTlsContext`,
      compact({
        common_tls_context: compact({
          tls_certificate_sds_secret_configs: [sdsSecret(WORKLOAD_SECRET)],
          combined_validation_context: {
            default_validation_context: {
              match_typed_subject_alt_names: sans.map((san) => ({
                san_type: "URI",
                matcher: { exact: san },
              })),
            },
            validation_context_sds_secret_config: sdsSecret(ROOT_CA_SECRET),
          },
          alpn_protocols: alpn.length > 0 ? [...alpn] : undefined,
        }),
        sni,
      }),
    ),
  };
}

/** Plaintext, named explicitly where a transport socket match must pick it. */
export const RAW_BUFFER_SOCKET: JsonObject = {
  name: "envoy.transport_sockets.raw_buffer",
  typed_config: typed("envoy.extensions.transport_sockets.raw_buffer.v3.RawBuffer"),
};

const providerIdentity = (): JsonObject => ({
  instance_name: CERTIFICATE_PROVIDER,
  certificate_name: WORKLOAD_SECRET,
});
const providerRoots = (): JsonObject => ({
  instance_name: CERTIFICATE_PROVIDER,
  certificate_name: ROOT_CA_SECRET,
});

/**
 * The server side of mTLS on a proxyless gRPC server (STRICT): presents the
 * workload certificate and requires a client certificate that chains to the
 * trust bundle, like the sidecar's {@link downstreamTlsSocket}.
 */
export function proxylessDownstreamTlsSocket(): JsonObject {
  return {
    name: TLS_SOCKET,
    typed_config: typed(`${TLS_TYPE}.DownstreamTlsContext`, {
      require_client_certificate: true,
      common_tls_context: {
        tls_certificate_provider_instance: providerIdentity(),
        validation_context: { ca_certificate_provider_instance: providerRoots() },
      },
    }),
  };
}

/**
 * The client side of mTLS for proxyless gRPC: presents the workload
 * certificate, verifies the server's chain against the trust bundle and its
 * URI SAN against `sans`. gRPC reads `match_subject_alt_names` (not the typed
 * matchers Envoy prefers); an exact matcher there compares URI SANs whole.
 */
export function proxylessUpstreamTlsSocket(sans: readonly string[]): JsonObject {
  return {
    name: TLS_SOCKET,
    typed_config: typed(`${TLS_TYPE}.UpstreamTlsContext`, {
      common_tls_context: {
        tls_certificate_provider_instance: providerIdentity(),
        validation_context: {
          ca_certificate_provider_instance: providerRoots(),
          match_subject_alt_names: sans.map((san) => ({ exact: san })),
        },
      },
    }),
  };
}
