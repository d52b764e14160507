/**
 * The contract between the xDS server and proxyless gRPC applications, whose
 * bootstrap `skiff agent` writes: the names both sides must agree on.
 */

/**
 * The certificate provider instance that proxyless gRPC reads the workload
 * certificate and trust bundle from. gRPC takes no SDS (gRPC A29): its
 * bootstrap names file-watching providers instead, and `skiff agent` writes
 * both the files (from SDS) and that bootstrap.
 */
export const CERTIFICATE_PROVIDER = "default";

/**
 * Node metadata with which a proxyless gRPC client declares that its
 * bootstrap has the certificate provider instance CERTIFICATE_PROVIDER, as
 * the bootstrap `skiff agent` writes does. Only such clients get mTLS
 * clusters: any other would NACK them.
 */
export const CERTIFICATE_PROVIDER_METADATA = "SKIFF_CERTIFICATE_PROVIDER";

/**
 * The listener a proxyless gRPC server asks for when it listens on an
 * address: gRPC A36's suggested `server_listener_resource_name_template`,
 * which the bootstrap from `skiff agent` sets.
 */
export const PROXYLESS_SERVER_LISTENER_TEMPLATE = "grpc/server?xds.resource.listening_address=%s";
