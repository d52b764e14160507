import type { ServiceDefinition } from "@grpc/grpc-js";

/**
 * The AggregatedDiscoveryService, declared by hand: both methods are
 * bidirectional streams of raw bytes. Decoding is left to the stream
 * handlers (see wire.ts) so that a malformed request ends the stream with
 * INVALID_ARGUMENT, and responses arrive here already encoded.
 */
export const ADS_SERVICE = "envoy.service.discovery.v3.AggregatedDiscoveryService";
export const SOTW_PATH = `/${ADS_SERVICE}/StreamAggregatedResources`;
export const DELTA_PATH = `/${ADS_SERVICE}/DeltaAggregatedResources`;

const toBuffer = (bytes: Uint8Array): Buffer => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
const passThrough = (bytes: Buffer): Buffer => bytes;

/** A method of raw bytes both ways: a bidirectional stream, or one request and one response. */
function rawMethod(path: string, streams: boolean) {
  return {
    path,
    requestStream: streams,
    responseStream: streams,
    requestSerialize: toBuffer,
    requestDeserialize: passThrough,
    responseSerialize: toBuffer,
    responseDeserialize: passThrough,
  };
}
const bidi = (path: string) => rawMethod(path, true);
const unary = (path: string) => rawMethod(path, false);

export const adsServiceDefinition: ServiceDefinition = {
  StreamAggregatedResources: bidi(SOTW_PATH),
  DeltaAggregatedResources: bidi(DELTA_PATH),
};

/**
 * Istio's certificate-signing service (security/v1alpha1 ca.proto), on the
 * ADS port: agents send a CSR and get a workload certificate, so workload
 * keys never leave their Pods. Raw bytes here too: the handler decodes, so
 * that it can cap the size and answer a malformed request with
 * INVALID_ARGUMENT (see certificate-service.ts).
 */
export const CERTIFICATE_SERVICE = "istio.v1.auth.IstioCertificateService";
export const CREATE_CERTIFICATE_PATH = `/${CERTIFICATE_SERVICE}/CreateCertificate`;

export const certificateServiceDefinition: ServiceDefinition = {
  CreateCertificate: unary(CREATE_CERTIFICATE_PATH),
};

/**
 * Envoy's ClientStatusDiscoveryService (envoy/service/status/v3/csds.proto),
 * on the ADS port: operators read what each connected proxy was sent and
 * answered. Raw bytes, for the same reason (src/xds/status/csds-service.ts).
 */
export const CSDS_SERVICE = "envoy.service.status.v3.ClientStatusDiscoveryService";

export const csdsServiceDefinition: ServiceDefinition = {
  StreamClientStatus: bidi(`/${CSDS_SERVICE}/StreamClientStatus`),
  FetchClientStatus: unary(`/${CSDS_SERVICE}/FetchClientStatus`),
};

/**
 * Skiff's own service between xDS replicas, on the ADS port: the replica
 * that writes status asks each other replica for its proxy count and
 * per-policy programming (src/xds/status/replica-status-service.ts). One
 * unary method; the request is empty and the answer JSON.
 */
export const REPLICA_STATUS_SERVICE = "skiff.xds.v1alpha1.ReplicaStatus";
export const REPLICA_PROGRAMMING_PATH = `/${REPLICA_STATUS_SERVICE}/Programming`;

export const replicaStatusServiceDefinition: ServiceDefinition = {
  Programming: unary(REPLICA_PROGRAMMING_PATH),
};
