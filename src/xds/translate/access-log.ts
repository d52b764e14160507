import type { JsonObject } from "@bufbuild/protobuf";
import type { TelemetryModel } from "../../ir/model.js";
import { typed } from "./json.js";
import type { Peers, Side } from "./telemetry-peers.js";

/**
 * The sidecars' access logs on stdout, one line per request (HTTP) or per
 * connection (TCP). JSON names each field (see docs/telemetry.md); TEXT is
 * Envoy's default format. `authorization` is the RBAC filters' dynamic
 * metadata: the shadow (AUDIT) and enforced effective policy ids, that is
 * the AuthorizationPolicy rule that decided; a denial is also in
 * `response_code_details` (HTTP) or `connection_termination_details` (TCP).
 * The workloads and the Service are the metrics' labels (telemetry-peers.ts),
 * so a line and its series name the same peers.
 */

const STDOUT_LOGGER = "envoy.access_loggers.stdout";
const STDOUT_TYPE = "envoy.extensions.access_loggers.stream.v3.StdoutAccessLog";

const COMMON: Record<string, string> = {
  start_time: "%START_TIME%",
  duration: "%DURATION%",
  bytes_received: "%BYTES_RECEIVED%",
  bytes_sent: "%BYTES_SENT%",
  response_flags: "%RESPONSE_FLAGS%",
  upstream_cluster: "%UPSTREAM_CLUSTER%",
  upstream_host: "%UPSTREAM_HOST%",
  upstream_local_address: "%UPSTREAM_LOCAL_ADDRESS%",
  upstream_transport_failure_reason: "%UPSTREAM_TRANSPORT_FAILURE_REASON%",
  downstream_local_address: "%DOWNSTREAM_LOCAL_ADDRESS%",
  downstream_remote_address: "%DOWNSTREAM_REMOTE_ADDRESS%",
  requested_server_name: "%REQUESTED_SERVER_NAME%",
  downstream_peer_principal: "%DOWNSTREAM_PEER_URI_SAN%",
  upstream_peer_principal: "%UPSTREAM_PEER_URI_SAN%",
};

const HTTP: Record<string, string> = {
  ...COMMON,
  method: "%REQ(:METHOD)%",
  path: "%REQ(X-ENVOY-ORIGINAL-PATH?:PATH)%",
  authority: "%REQ(:AUTHORITY)%",
  protocol: "%PROTOCOL%",
  response_code: "%RESPONSE_CODE%",
  response_code_details: "%RESPONSE_CODE_DETAILS%",
  upstream_service_time: "%RESP(X-ENVOY-UPSTREAM-SERVICE-TIME)%",
  request_id: "%REQ(X-REQUEST-ID)%",
  trace_id: "%TRACE_ID%",
  user_agent: "%REQ(USER-AGENT)%",
  x_forwarded_for: "%REQ(X-FORWARDED-FOR)%",
  route_name: "%ROUTE_NAME%",
  authorization: "%DYNAMIC_METADATA(envoy.filters.http.rbac)%",
};

const TCP: Record<string, string> = {
  ...COMMON,
  connection_termination_details: "%CONNECTION_TERMINATION_DETAILS%",
  authorization: "%DYNAMIC_METADATA(envoy.filters.network.rbac)%",
};

/** The stdout access log of an HTTP connection manager or TCP proxy; undefined when the Mesh turns logs off. */
export function accessLog(
  telemetry: TelemetryModel,
  side: Side,
  protocol: "HTTP" | "TCP",
  who: Peers,
): JsonObject | undefined {
  if (!telemetry.accessLog) return undefined;
  const fields = {
    direction: side,
    ...(protocol === "HTTP" ? HTTP : TCP),
    source_workload: who.source_workload,
    source_workload_namespace: who.source_workload_namespace,
    destination_workload: who.destination_workload,
    destination_workload_namespace: who.destination_workload_namespace,
    destination_service: who.destination_service,
  };
  return {
    name: STDOUT_LOGGER,
    // The TCP proxy also logs when the upstream connects (for the metrics); the line is written at the end only.
    ...(protocol === "TCP" ? { filter: { log_type_filter: { types: ["TcpConnectionEnd"] } } } : {}),
    typed_config: typed(
      STDOUT_TYPE,
      telemetry.accessLog.format === "JSON" ? { log_format: { json_format: fields } } : {},
    ),
  };
}
