import type { JsonObject } from "@bufbuild/protobuf";
import type { EndpointModel } from "../../ir/model.js";
import { claimedPeer, type ClaimCheck, type ClaimedPeer } from "./peer-exchange.js";

/**
 * Who is on each end of a request, as Envoy command operators, for the
 * metrics' labels. A sidecar knows itself from its container's downward-API
 * environment (POD_NAME, POD_NAMESPACE: outbound listeners are shared by
 * every sidecar, so they cannot name it), its peer's identity from the mTLS
 * certificate, and, outbound, the peer workload from the EDS metadata that
 * `peerMetadata` puts on each endpoint.
 *
 * The workload is the Pod's name (Istio uses the Pod's controller, such as
 * the Deployment; Skiff does not yet resolve owners). The inbound side of
 * HTTP learns the calling workload and the Service that was called from the
 * client's sidecar, by the metadata exchange of peer-exchange.ts, which
 * checks them against the caller's certificate. TCP has no such exchange:
 * there those labels read "unknown", and the caller is known by its
 * principal.
 */

/** Which sidecar reports: the client's (outbound) or the server's (inbound); Istio's `reporter`. */
export type Side = "outbound" | "inbound";

/** The EDS metadata namespace of an endpoint's workload. */
const PEER_METADATA = "skiff.peer";
const UNKNOWN = "unknown";

export interface Peers {
  readonly source_workload: string;
  readonly source_workload_namespace: string;
  readonly source_principal: string;
  readonly destination_workload: string;
  readonly destination_workload_namespace: string;
  readonly destination_principal: string;
  readonly destination_service: string;
}

/**
 * `destinationService` is the called Service's hostname, known on the
 * outbound side; `exchange`, on the inbound side of HTTP, checks what the
 * caller's sidecar said.
 */
export function peers(side: Side, destinationService?: string, exchange?: ClaimCheck): Peers {
  const self = { workload: "%ENVIRONMENT(POD_NAME)%", namespace: "%ENVIRONMENT(POD_NAMESPACE)%" };
  return side === "outbound"
    ? {
        source_workload: self.workload,
        source_workload_namespace: self.namespace,
        source_principal: "%UPSTREAM_LOCAL_URI_SAN%",
        destination_workload: `%UPSTREAM_METADATA(${PEER_METADATA}:workload)%`,
        destination_workload_namespace: `%UPSTREAM_METADATA(${PEER_METADATA}:namespace)%`,
        destination_principal: "%UPSTREAM_PEER_URI_SAN%",
        destination_service: destinationService ?? UNKNOWN,
      }
    : inbound(self, exchange ? claimedPeer(exchange) : undefined);
}

function inbound(self: { workload: string; namespace: string }, claimed: ClaimedPeer | undefined): Peers {
  return {
    source_workload: claimed?.source_workload ?? UNKNOWN,
    source_workload_namespace: claimed?.source_workload_namespace ?? UNKNOWN,
    source_principal: "%DOWNSTREAM_PEER_URI_SAN%",
    destination_workload: self.workload,
    destination_workload_namespace: self.namespace,
    destination_principal: "%DOWNSTREAM_LOCAL_URI_SAN%",
    destination_service: claimed?.destination_service ?? UNKNOWN,
  };
}

/** An endpoint's workload as EDS filter metadata, for the client's metrics; empty when no Pod is known. */
export function peerMetadata(endpoint: EndpointModel): Record<string, JsonObject> {
  if (!endpoint.workload) return {};
  const slash = endpoint.workload.indexOf("/");
  return {
    [PEER_METADATA]: {
      workload: endpoint.workload.slice(slash + 1),
      namespace: endpoint.workload.slice(0, slash),
    },
  };
}
