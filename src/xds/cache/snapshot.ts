import type { JsonObject } from "@bufbuild/protobuf";

/**
 * The contract between the pipeline (compile -> translate -> cache) and the
 * ADS server. The server knows nothing about Kubernetes or the IR: it serves
 * encoded resources, per proxy, and reports what each proxy ACKed or NACKed.
 */

/** One Envoy resource, encoded to protobuf bytes once per version and shared by every proxy. */
export interface EncodedResource {
  /** For example type.googleapis.com/envoy.config.cluster.v3.Cluster. */
  readonly typeUrl: string;
  readonly name: string;
  /** A content hash: equal bytes have equal versions. */
  readonly version: string;
  /** The resource message's protobuf encoding, the value of its Any. */
  readonly bytes: Uint8Array;
}

/** The resources one proxy should have, by type URL, then by name. */
export interface Snapshot {
  /** Identifies the pipeline generation this snapshot came from. */
  readonly generation: number;
  readonly resources: ReadonlyMap<string, ReadonlyMap<string, EncodedResource>>;
}

/** A workload identity that the server has verified (not what the node claims). */
export interface WorkloadIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
  /**
   * The Pod the token is bound to (its name, in namespace), as the API server
   * says: a kubelet's projected tokens always are. Absent for a token bound
   * to no Pod, which then may not speak for one (see node-binding.ts).
   */
  readonly pod?: string;
}

/** Who a proxy is, from the Node in its first request. */
export interface ProxyNode {
  readonly id: string;
  readonly cluster: string;
  /** node.metadata as JSON; GENERATOR=grpc marks a proxyless gRPC client, as in Istio. */
  readonly metadata: JsonObject;
  /** The identity the proxy proved with its ServiceAccount token; absent when it presented none. */
  readonly identity?: WorkloadIdentity;
}

/** What the pipeline offers the ADS server. */
export interface SnapshotSource {
  /** The current snapshot for a proxy. Called on connect and after every change. */
  snapshotFor(node: ProxyNode): Snapshot;
  /** Calls listener after each new pipeline generation; returns an unsubscribe function. */
  subscribe(listener: (generation: number) => void): () => void;
}

/** A proxy's answer to one response, as the server saw it. */
export interface ProxyResponseStatus {
  readonly proxyId: string;
  readonly typeUrl: string;
  /** The pipeline generation the answered response was built from. */
  readonly generation: number;
  /** The resource names in the answered response (for delta, the ones it added or changed). */
  readonly resourceNames: readonly string[];
  readonly acked: boolean;
  /** error_detail.message of a NACK. */
  readonly errorDetail?: string;
}
