/**
 * The Envoy bootstrap that sidecars start from (the file in each meshed
 * namespace's bootstrap ConfigMap). It holds only what cannot come over xDS:
 * where the xDS server is, and the admin endpoint. Everything else (listeners,
 * clusters, secrets) arrives over ADS. The node id and cluster are not in the
 * file: the sidecar passes them as --service-node and --service-cluster from
 * downward-API environment variables, so one file serves every Pod.
 *
 * Pure: same input, byte-identical output.
 */

export interface BootstrapInputs {
  /** The xDS server's DNS name, such as skiff-xds.skiff-system.svc. */
  xdsHost: string;
  xdsPort: number;
  adminPort: number;
}

export const XDS_CLUSTER = "skiff-xds";

export function renderBootstrap(inputs: BootstrapInputs): string {
  const bootstrap = {
    admin: { address: { socket_address: { address: "127.0.0.1", port_value: inputs.adminPort } } },
    dynamic_resources: {
      ads_config: {
        api_type: "DELTA_GRPC",
        transport_api_version: "V3",
        grpc_services: [{ envoy_grpc: { cluster_name: XDS_CLUSTER } }],
        set_node_on_first_message_only: true,
      },
      cds_config: { ads: {}, resource_api_version: "V3" },
      lds_config: { ads: {}, resource_api_version: "V3" },
    },
    static_resources: {
      clusters: [
        {
          name: XDS_CLUSTER,
          type: "STRICT_DNS",
          connect_timeout: "1s",
          typed_extension_protocol_options: {
            "envoy.extensions.upstreams.http.v3.HttpProtocolOptions": {
              "@type": "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions",
              explicit_http_config: { http2_protocol_options: {} },
            },
          },
          load_assignment: {
            cluster_name: XDS_CLUSTER,
            endpoints: [
              {
                lb_endpoints: [
                  {
                    endpoint: {
                      address: { socket_address: { address: inputs.xdsHost, port_value: inputs.xdsPort } },
                    },
                  },
                ],
              },
            ],
          },
        },
      ],
    },
  };
  return JSON.stringify(bootstrap, null, 2) + "\n";
}
