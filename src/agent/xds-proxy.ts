import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import {
  Client,
  Metadata,
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type ClientDuplexStream,
  type ServerDuplexStream,
  type ServiceError,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import { adsServiceDefinition, DELTA_PATH, SOTW_PATH } from "../xds/server/service-definition.js";
import type { XdsChannel } from "./xds-channel.js";

export interface XdsProxyOptions {
  /** host:port of Skiff's xDS server. */
  readonly address: string;
  /** How to reach it (see xdsChannel): the agent's one channel, which its certificate requests share. */
  readonly channel: XdsChannel;
  /** The Unix socket Envoy or the gRPC application dials (plaintext: only the Pod reaches it). */
  readonly socketPath: string;
  /** The Pod's projected ServiceAccount token, read anew for each stream: the kubelet rotates it. */
  readonly token: () => Promise<string>;
  readonly logger: Logger;
}

export interface RunningXdsProxy {
  /** Ends every stream and stops listening. */
  stop(): Promise<void>;
}

/** The largest message carried either way: a big mesh's SotW responses are large (the server's own cap). */
const MAX_MESSAGE_BYTES = 64 * 1024 * 1024;

/**
 * How often the agent redials a lost xDS server. grpc-js backs off to 120 s
 * by default; a restarted server (or the Service's next replica) should be
 * found within seconds, and Envoy retries its stream every few seconds too
 * (see the bootstrap's retry policy).
 */
const RECONNECT_BACKOFF = {
  "grpc.initial_reconnect_backoff_ms": 500,
  "grpc.max_reconnect_backoff_ms": 5_000,
};

type DownstreamCall = ServerDuplexStream<Buffer, Buffer>;

/**
 * The agent's xDS proxy, as Istio's pilot-agent has: Envoy (or a proxyless
 * gRPC application) dials a Unix socket in the Pod, in plaintext, and each
 * of its ADS streams is carried to Skiff's xDS server over TLS, with the
 * Pod's current token added. Neither Envoy nor grpc-js-xds can send a token
 * that the kubelet rotates, nor (grpc-js-xds) trust a private root; the
 * agent can. Bytes pass unchanged: the server decodes and checks them, and
 * binds the node id to the token's Pod.
 *
 * A stream's end on either side ends the other with the same status.
 */
export async function startXdsProxy(options: XdsProxyOptions): Promise<RunningXdsProxy> {
  const upstream = new Client(options.address, options.channel.credentials, {
    ...options.channel.options,
    ...RECONNECT_BACKOFF,
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  const calls = new Set<DownstreamCall>();
  const server = new Server({
    "grpc.max_receive_message_length": MAX_MESSAGE_BYTES,
    "grpc.max_send_message_length": MAX_MESSAGE_BYTES,
  });
  const relay = (path: string) => (call: DownstreamCall) => {
    calls.add(call);
    call.once("close", () => calls.delete(call));
    void carry(path, call, upstream, options);
  };
  server.addService(adsServiceDefinition, {
    StreamAggregatedResources: relay(SOTW_PATH),
    DeltaAggregatedResources: relay(DELTA_PATH),
  });
  // A socket left by a previous run (a crash) would make the bind fail.
  await mkdir(dirname(options.socketPath), { recursive: true });
  await rm(options.socketPath, { force: true });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${options.socketPath}`, ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  options.logger.info({ socket: options.socketPath, upstream: options.address }, "xDS proxy listening");
  return {
    async stop() {
      for (const call of calls)
        endWith(call, { code: GrpcStatus.UNAVAILABLE, details: "the agent is stopping" });
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
      upstream.close();
    },
  };
}

/** Carries one downstream stream to the server, and its responses back. */
async function carry(
  path: string,
  downstream: DownstreamCall,
  upstream: Client,
  options: XdsProxyOptions,
): Promise<void> {
  let token: string;
  try {
    token = (await options.token()).trim();
  } catch (error) {
    options.logger.error({ err: error }, "cannot read the ServiceAccount token");
    endWith(downstream, { code: GrpcStatus.UNAVAILABLE, details: "the agent cannot read the Pod's token" });
    return;
  }
  if (downstream.cancelled) return;
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  const server: ClientDuplexStream<Buffer, Buffer> = upstream.makeBidiStreamRequest(
    path,
    (bytes: Buffer) => bytes,
    (bytes: Buffer) => bytes,
    metadata,
  );
  // Flow control both ways: a side that cannot keep up pauses the other.
  downstream.on("data", (bytes: Buffer) => {
    if (!server.write(bytes)) {
      downstream.pause();
      server.once("drain", () => downstream.resume());
    }
  });
  downstream.on("end", () => server.end());
  downstream.on("cancelled", () => server.cancel());
  downstream.on("error", () => server.cancel());
  server.on("data", (bytes: Buffer) => {
    if (!downstream.write(bytes)) {
      server.pause();
      downstream.once("drain", () => server.resume());
    }
  });
  // A non-OK status is emitted as an error too; it is relayed from "status".
  server.on("error", () => {});
  server.on("status", (status: { code: GrpcStatus; details: string }) => {
    if (status.code !== GrpcStatus.OK)
      options.logger.warn({ code: GrpcStatus[status.code], details: status.details }, "xDS stream ended");
    endWith(downstream, status);
  });
}

/** Ends a downstream call with the server's status (OK ends it cleanly). */
function endWith(call: DownstreamCall, status: { code: GrpcStatus; details: string }): void {
  if (call.cancelled || call.writableEnded || call.destroyed) return;
  if (status.code === GrpcStatus.OK) call.end();
  else call.emit("error", Object.assign(new Error(status.details), status) as Partial<ServiceError>);
}
