import { status as GrpcStatus } from "@grpc/grpc-js";

/**
 * What one ADS stream may make the server hold or do. Any pod can open a
 * stream (credentials are optional: a proxy without them just gets no
 * certificates), so every input that the server keeps for the life of a
 * stream is bounded here, generously above what a real proxy sends, and a
 * stream that goes past a bound is ended with a status that names it.
 *
 * With the defaults below, a stream at every limit holds about 13 MiB
 * (test/unit/xds/server/stream-memory.test.ts measures it, and fails past
 * 16 MiB), plus at most one partly received request that grpc-js buffers
 * (MAX_REQUEST_BYTES). Before them, one stream held 276 MiB, and more the
 * longer it went on.
 */
export interface StreamLimits {
  /**
   * Resource names the stream has given the server to keep, over all its
   * types: subscribed names, and the initial_resource_versions of a delta
   * reconnect until the server has answered them. A sidecar names one EDS
   * resource per cluster and one RDS resource per HTTP port; 50,000 is a
   * mesh far beyond what one Envoy can hold in memory.
   */
  readonly maxNames: number;
  /**
   * Characters in those names (and versions): an average of 80 at the
   * count limit, where Skiff's names are a Service's host name and port.
   */
  readonly maxNameCharacters: number;
  /**
   * Distinct type URLs on one stream. Skiff serves five; Envoy knows about
   * a dozen xDS types in all. A type Skiff does not produce still gets an
   * answer (empty), as go-control-plane's delta server gives one, so the
   * proxy does not wait out its initial_fetch_timeout.
   */
  readonly maxTypes: number;
  /** The longest type URL: Envoy's longest is about 100 characters. */
  readonly maxTypeUrlCharacters: number;
  /**
   * Node.id and Node.cluster, in bytes. A sidecar's id is
   * `sidecar~<IP>~<pod>.<namespace>~<namespace>.svc.<domain>`: at most
   * about 700 bytes with Kubernetes' own name limits.
   */
  readonly maxNodeIdBytes: number;
  readonly maxNodeClusterBytes: number;
  /**
   * Node.metadata, encoded. Skiff reads two keys; Istio-style metadata
   * with labels fits too. (Envoy's other Node fields, such as its list of
   * extensions, are larger but are not kept.)
   */
  readonly maxNodeMetadataBytes: number;
  /**
   * Requests a second, sustained, and in a burst. A proxy answers each
   * response once and has at most one response per type outstanding, so
   * even a five-type push on every 50 ms generation is 100 a second.
   */
  readonly requestsPerSecond: number;
  readonly requestBurst: number;
  /**
   * Requests kept while the proxy's credentials are being checked (one
   * first request per type is what a proxy sends before any answer).
   */
  readonly maxRequestsBeforeIdentified: number;
  /** NACK messages are kept (and shown in status) cut to this many code points, as status cuts them. */
  readonly maxNackMessageCodePoints: number;
  /**
   * Responses written to the stream that its HTTP/2 stream has not taken
   * yet (a proxy that reads slowly, or not at all): past this, a new
   * generation's push waits until they are, and then sends only the newest.
   * One response is always written whole, however large.
   */
  readonly pushBudgetBytes: number;
}

const KiB = 1024;
const MiB = 1024 * KiB;

export const DEFAULT_STREAM_LIMITS: StreamLimits = {
  maxNames: 50_000,
  maxNameCharacters: 4 * MiB,
  maxTypes: 16,
  maxTypeUrlCharacters: 256,
  maxNodeIdBytes: 1 * KiB,
  maxNodeClusterBytes: 1 * KiB,
  maxNodeMetadataBytes: 16 * KiB,
  requestsPerSecond: 100,
  requestBurst: 1000,
  maxRequestsBeforeIdentified: 16,
  maxNackMessageCodePoints: 32 * KiB,
  pushBudgetBytes: 2 * MiB,
};

/**
 * The largest request (the server's grpc.max_receive_message_length): a
 * SotW ACK repeats the whole subscription of its type, and 4 MiB holds
 * 50,000 names of 80 characters. grpc-js refuses a larger message from
 * its length prefix, before reading it, with RESOURCE_EXHAUSTED.
 */
export const MAX_REQUEST_BYTES = 4 * MiB;

/** A stream went past one of its limits: it ends with this status. */
export class StreamLimitExceeded extends Error {
  constructor(
    readonly code: GrpcStatus.RESOURCE_EXHAUSTED | GrpcStatus.INVALID_ARGUMENT,
    message: string,
  ) {
    super(message);
    this.name = "StreamLimitExceeded";
  }
}

export function tooMany(what: string, limit: number): StreamLimitExceeded {
  return new StreamLimitExceeded(
    GrpcStatus.RESOURCE_EXHAUSTED,
    `${what}: more than ${limit} on one stream (the server's limit)`,
  );
}

export function tooLong(what: string, size: number, limit: number, unit: string): StreamLimitExceeded {
  return new StreamLimitExceeded(
    GrpcStatus.INVALID_ARGUMENT,
    `${what} is ${size} ${unit}, more than the ${limit} the server accepts`,
  );
}
