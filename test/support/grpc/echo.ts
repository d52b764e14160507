import {
  Metadata,
  makeGenericClientConstructor,
  type CallOptions,
  type ChannelCredentials,
  type Client,
  type ClientOptions,
  type ClientUnaryCall,
  type MethodDefinition,
  type ServiceDefinition,
  type ServiceError,
  type UntypedServiceImplementation,
  type handleUnaryCall,
  type requestCallback,
} from "@grpc/grpc-js";

/**
 * A one-method gRPC service for traffic tests, without .proto files:
 * `/skiff.test.Echo/Call`, unary, with JSON messages carried as UTF-8 bytes.
 */
export const ECHO_SERVICE = "skiff.test.Echo";
export const ECHO_CALL_PATH = `/${ECHO_SERVICE}/Call`;

/**
 * Metadata key the xDS client puts on its warm-up calls: backends answer them
 * OK at once, without delay, failure or counting them (see backend.ts).
 */
export const WARMUP_HEADER = "x-skiff-warmup";

/** Trailing-metadata key with which a backend names itself on the errors it returns. */
export const BACKEND_TRAILER = "x-skiff-backend";

export interface EchoRequest {
  readonly message?: string;
}

export interface EchoResponse {
  /** The --name of the backend that answered. */
  readonly backend: string;
  /** The request's metadata, without the transport's own headers (see backend.ts). */
  readonly echoedHeaders: Record<string, string>;
  /** The backend's running number of counted (non-warm-up) calls, this one included. */
  readonly call: number;
  /** Whether the call came over TLS. */
  readonly transport: "tls" | "plaintext";
  /** Over TLS: the URI SAN of the client's certificate (its SPIFFE ID), if it sent one. */
  readonly peer?: string;
}

function serialize(value: unknown): Buffer {
  return Buffer.from(JSON.stringify(value), "utf8");
}

function deserialize<T>(bytes: Buffer): T {
  return JSON.parse(bytes.toString("utf8")) as T;
}

const callMethod: MethodDefinition<EchoRequest, EchoResponse> = {
  path: ECHO_CALL_PATH,
  requestStream: false,
  responseStream: false,
  requestSerialize: serialize,
  requestDeserialize: deserialize<EchoRequest>,
  responseSerialize: serialize,
  responseDeserialize: deserialize<EchoResponse>,
  originalName: "Call",
};

export interface EchoServer extends UntypedServiceImplementation {
  call: handleUnaryCall<EchoRequest, EchoResponse>;
}

/** The service definition, for `server.addService(echoService, impl)`. */
export const echoService: ServiceDefinition<EchoServer> = { call: callMethod };

/**
 * More method paths that backends answer like Call, so that authorization
 * tests can vary the request path (gRPC's path is the method's).
 */
export const OTHER_PATHS = ["/skiff.test.Echo/Get", "/skiff.test.Admin/Delete"] as const;

/** One definition for OTHER_PATHS, each method named by its index: `server.addService(otherPathsService, {m0, m1})`. */
export const otherPathsService: ServiceDefinition = Object.fromEntries(
  OTHER_PATHS.map((path, i) => [`m${i}`, { ...callMethod, path, originalName: `m${i}` }]),
);

export interface EchoClient extends Client {
  call(
    request: EchoRequest,
    metadata: Metadata,
    options: Partial<CallOptions>,
    callback: requestCallback<EchoResponse>,
  ): ClientUnaryCall;
}

export type EchoClientConstructor = new (
  address: string,
  credentials: ChannelCredentials,
  options?: ClientOptions,
) => EchoClient;

/** `new EchoClient("127.0.0.1:1234" | "xds:///name", credentials.createInsecure(), channelOptions)`. */
export const EchoClient = makeGenericClientConstructor(
  echoService,
  ECHO_SERVICE,
) as unknown as EchoClientConstructor;

export interface CallOutcome {
  readonly response?: EchoResponse;
  readonly error?: ServiceError;
  readonly latencyMs: number;
}

/** One unary call that never rejects: the outcome carries either the response or the error. */
export function callEcho(
  client: EchoClient,
  request: EchoRequest,
  options: { metadata?: Record<string, string>; deadlineMs?: number; waitForReady?: boolean } = {},
): Promise<CallOutcome> {
  const metadata = new Metadata({ waitForReady: options.waitForReady ?? false });
  for (const [key, value] of Object.entries(options.metadata ?? {})) metadata.set(key, value);
  const callOptions: Partial<CallOptions> = {};
  if (options.deadlineMs !== undefined) callOptions.deadline = Date.now() + options.deadlineMs;
  const started = performance.now();
  return new Promise((resolve) => {
    client.call(request, metadata, callOptions, (error, response) => {
      const latencyMs = performance.now() - started;
      if (error) resolve({ error, latencyMs });
      else resolve({ response, latencyMs });
    });
  });
}
