import { join } from "node:path";
import {
  CERTIFICATE_PROVIDER,
  CERTIFICATE_PROVIDER_METADATA,
  PROXYLESS_SERVER_LISTENER_TEMPLATE,
} from "../mesh/proxyless.js";
import { CERTIFICATE_CHAIN_FILE, PRIVATE_KEY_FILE, ROOT_CERTIFICATE_FILE } from "./certificate-files.js";

export interface GrpcBootstrapSettings {
  /** host:port of Skiff's xDS server. */
  readonly xdsAddress: string;
  /** The application's node id: `sidecar~<pod IP>~<pod>.<namespace>~<namespace>.svc.cluster.local`. */
  readonly nodeId: string;
  /** Where the agent writes the certificate files. */
  readonly certificateDirectory: string;
  /** How often gRPC re-reads them, in seconds. */
  readonly refreshIntervalSeconds: number;
}

/**
 * The xDS bootstrap for a proxyless gRPC application (GRPC_XDS_BOOTSTRAP),
 * as grpc-go and grpc-js-xds read it:
 *
 * - the node is proxyless (GENERATOR=grpc, Istio's marker) and declares the
 *   certificate provider, so the xDS server gives it mTLS clusters;
 * - certificate provider `default` watches the files the agent keeps fresh,
 *   so rotation needs no restart and no reconnect;
 * - its xDS-enabled servers ask for gRPC A36's listener names, which the
 *   xDS server generates for the Pod's served ports;
 * - `locality` is required by grpc-js-xds, even empty.
 */
export function grpcBootstrap(settings: GrpcBootstrapSettings): object {
  const file = (name: string) => join(settings.certificateDirectory, name);
  return {
    xds_servers: [
      { server_uri: settings.xdsAddress, channel_creds: [{ type: "insecure" }], server_features: [] },
    ],
    node: {
      id: settings.nodeId,
      locality: {},
      metadata: { GENERATOR: "grpc", [CERTIFICATE_PROVIDER_METADATA]: CERTIFICATE_PROVIDER },
    },
    certificate_providers: {
      [CERTIFICATE_PROVIDER]: {
        plugin_name: "file_watcher",
        config: {
          certificate_file: file(CERTIFICATE_CHAIN_FILE),
          private_key_file: file(PRIVATE_KEY_FILE),
          ca_certificate_file: file(ROOT_CERTIFICATE_FILE),
          refresh_interval: `${settings.refreshIntervalSeconds}s`,
        },
      },
    },
    server_listener_resource_name_template: PROXYLESS_SERVER_LISTENER_TEMPLATE,
  };
}
