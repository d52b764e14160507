import { EventEmitter } from "node:events";
import {
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type ChannelOptions,
  type Metadata,
  type sendUnaryData,
  type ServerDuplexStream,
  type ServerUnaryCall,
} from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { ProxyResponseStatus, SnapshotSource, WorkloadIdentity } from "../cache/snapshot.js";
import { createLogger } from "../../observability/logger.js";
import { xdsConnectedProxies } from "../../observability/metrics.js";
import type { AdsCall, AdsStream, StreamHooks } from "./ads-stream.js";
import { AuthenticationError } from "./authentication-error.js";
import { DeltaStream } from "./delta-stream.js";
import { DEFAULT_STREAM_LIMITS, MAX_REQUEST_BYTES, type StreamLimits } from "./limits.js";
import type { ProxyState } from "./proxy-state.js";
import { PushScheduler } from "./push-scheduler.js";
import {
  adsServiceDefinition,
  certificateServiceDefinition,
  csdsServiceDefinition,
  replicaStatusServiceDefinition,
} from "./service-definition.js";
import { SotwStream } from "./sotw-stream.js";

export type { ProxyState } from "./proxy-state.js";

export interface AdsServerOptions {
  logger?: Logger;
  /** Called for every ACK and NACK; exceptions are logged, not propagated to the stream. */
  onResponseStatus?: (status: ProxyResponseStatus) => void;
  /** Defaults to insecure (plaintext); the caller supplies mTLS credentials. */
  credentials?: ServerCredentials;
  /** Server-initiated HTTP/2 pings on idle connections find dead proxies (default 30 s). */
  keepaliveTimeMs?: number;
  /** A ping not answered within this closes the connection (default 10 s). */
  keepaliveTimeoutMs?: number;
  /** Largest request accepted (default MAX_REQUEST_BYTES, see limits.ts). */
  maxReceiveMessageBytes?: number;
  /** Largest response sent (default 64 MiB): a SotW EDS or CDS response of a big mesh is large. */
  maxSendMessageBytes?: number;
  /** Any further grpc-js options; they override the ones above. */
  channelOptions?: ChannelOptions;
  /** How long stop() waits for streams to finish before cutting connections (default 5 s). */
  shutdownGraceMs?: number;
  /** Overrides some of what one stream may make the server hold or do (DEFAULT_STREAM_LIMITS). */
  limits?: Partial<StreamLimits>;
  /** Verifies proxies' credentials (see StreamHooks.authenticate); without it, no proxy has an identity. */
  authenticate?: StreamHooks["authenticate"];
  /**
   * Answers IstioCertificateService/CreateCertificate on the same port
   * (src/xds/identity/certificate-service.ts); without it, that service is
   * not offered (UNIMPLEMENTED).
   */
  createCertificate?: (request: Buffer, metadata: Metadata, peer: string) => Promise<UnaryAnswer>;
  /**
   * Answers one ClientStatusDiscoveryService request (Fetch, or each of a
   * Stream's; src/xds/status/csds-service.ts); without it, CSDS is not
   * offered (UNIMPLEMENTED).
   */
  clientStatus?: (request: Buffer, metadata: Metadata, peer: string) => Promise<UnaryAnswer>;
  /**
   * Answers skiff.xds.v1alpha1.ReplicaStatus/Programming, for the replica
   * that writes status (src/xds/status/replica-status-service.ts); without
   * it, not offered (UNIMPLEMENTED).
   */
  replicaProgramming?: (metadata: Metadata, peer: string) => Promise<UnaryAnswer>;
}

type UnaryAnswer = { response: Uint8Array } | { code: GrpcStatus; details: string };

export interface AdsServerEvents {
  connect: [ProxyState];
  disconnect: [ProxyState];
}

const MiB = 1024 * 1024;

/**
 * The Aggregated Discovery Service: serves each connected proxy the
 * snapshot the source computes for it, over SotW or delta ADS, and pushes
 * on every new generation. Emits "connect" when a stream's first request
 * identifies a proxy and "disconnect" when that stream ends.
 */
export class AdsServer extends EventEmitter<AdsServerEvents> {
  private readonly log: Logger;
  private readonly streams = new Set<AdsStream>();
  private readonly hooks: StreamHooks;
  private server?: Server;
  private unsubscribe?: () => void;
  private readonly pushes = new PushScheduler();
  /** Where everyProxyRan's scans stopped, by generation (convergence and policy status ask of a few). */
  private readonly ranScans = new Map<number, { streams: AdsStream[]; next: number; any: boolean }>();
  private nextStreamId = 1;

  constructor(
    private readonly source: SnapshotSource,
    private readonly options: AdsServerOptions = {},
  ) {
    super();
    this.log = options.logger ?? createLogger("xds");
    this.hooks = {
      source,
      logger: this.log,
      limits: { ...DEFAULT_STREAM_LIMITS, ...options.limits },
      identified: (stream) => {
        this.ranScans.clear();
        xdsConnectedProxies.inc();
        this.safely("connect listener", () => this.emit("connect", stream.state()!));
      },
      closed: (stream) => {
        this.streams.delete(stream);
        this.pushes.forget(stream);
        if (!stream.node) return;
        xdsConnectedProxies.dec();
        this.safely("disconnect listener", () => this.emit("disconnect", stream.state()!));
      },
      pushLater: (stream) => this.pushes.schedule([stream]),
      responseStatus: (status) =>
        this.safely("onResponseStatus", () => this.options.onResponseStatus?.(status)),
      ...(options.authenticate ? { authenticate: options.authenticate } : {}),
    };
  }

  /** Binds (e.g. "127.0.0.1:0") and starts serving; resolves with the bound port. */
  async start(address: string): Promise<number> {
    if (this.server) throw new Error("the ADS server is already started");
    const server = new Server(this.channelOptions());
    server.addService(adsServiceDefinition, {
      StreamAggregatedResources: (call: AdsCall) =>
        this.accept(new SotwStream(this.nextStreamId++, "sotw", call, this.hooks)),
      DeltaAggregatedResources: (call: AdsCall) =>
        this.accept(new DeltaStream(this.nextStreamId++, "delta", call, this.hooks)),
    });
    const createCertificate = this.options.createCertificate;
    if (createCertificate)
      server.addService(certificateServiceDefinition, {
        CreateCertificate: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Uint8Array>) =>
          void createCertificate(call.request, call.metadata, call.getPeer()).then(
            (answer) => ("response" in answer ? callback(null, answer.response) : callback(answer)),
            (err: unknown) => {
              this.log.error({ err }, "CreateCertificate threw");
              callback({ code: GrpcStatus.INTERNAL, details: "the certificate could not be issued" });
            },
          ),
      });
    const clientStatus = this.options.clientStatus;
    if (clientStatus)
      server.addService(csdsServiceDefinition, {
        FetchClientStatus: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Uint8Array>) =>
          void this.answered(clientStatus(call.request, call.metadata, call.getPeer()), "CSDS").then(
            (answer) => ("response" in answer ? callback(null, answer.response) : callback(answer)),
          ),
        StreamClientStatus: (call: ServerDuplexStream<Buffer, Uint8Array>) =>
          this.serveClientStatus(call, clientStatus),
      });
    const replicaProgramming = this.options.replicaProgramming;
    if (replicaProgramming)
      server.addService(replicaStatusServiceDefinition, {
        Programming: (call: ServerUnaryCall<Buffer, Buffer>, callback: sendUnaryData<Uint8Array>) =>
          void this.answered(replicaProgramming(call.metadata, call.getPeer()), "ReplicaStatus").then(
            (answer) => ("response" in answer ? callback(null, answer.response) : callback(answer)),
          ),
      });
    const credentials = this.options.credentials ?? ServerCredentials.createInsecure();
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(address, credentials, (err, bound) => (err ? reject(err) : resolve(bound))),
    );
    this.server = server;
    this.unsubscribe = this.source.subscribe(() => this.schedulePush());
    this.log.info({ address, port }, "ADS server listening");
    return port;
  }

  /** Ends every stream with UNAVAILABLE (proxies reconnect elsewhere) and shuts the server down. */
  async stop(): Promise<void> {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
    this.pushes.clear();
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    for (const stream of [...this.streams])
      stream.close(GrpcStatus.UNAVAILABLE, "the xDS server is shutting down");
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        server.forceShutdown();
        resolve();
      }, this.options.shutdownGraceMs ?? 5000);
      server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }

  /** The identified proxies on open streams, with per-type response status. */
  proxies(): ProxyState[] {
    return [...this.streams].flatMap((s) => s.state() ?? []);
  }

  /**
   * Checks again the credentials of every open stream that proved
   * `identity`, as before each certificate is issued for it: a stream whose
   * credentials `check` now refuses (UNAUTHENTICATED: its ServiceAccount or
   * Pod deleted, or its token expired since the stream opened) is ended
   * with that status, so its proxy reconnects with its current token or not
   * at all. Resolves whether any stream still proves the identity. When a
   * check cannot be made (the API server unavailable), rejects with that
   * error, having decided nothing about the streams it could not check.
   */
  async reverify(
    identity: WorkloadIdentity,
    check: (credentials: Metadata) => Promise<WorkloadIdentity | undefined>,
  ): Promise<boolean> {
    const proving = [...this.streams].filter(
      (s) =>
        s.isOpen &&
        s.node?.identity?.namespace === identity.namespace &&
        s.node.identity.serviceAccount === identity.serviceAccount,
    );
    const results = await Promise.allSettled(proving.map(async (s) => check(s.credentials)));
    let proven = false;
    let uncheckable: unknown;
    for (const [i, result] of results.entries()) {
      const stream = proving[i]!;
      if (result.status === "rejected") {
        const err = result.reason as unknown;
        if (err instanceof AuthenticationError && err.code === GrpcStatus.UNAUTHENTICATED)
          stream.close(GrpcStatus.UNAUTHENTICATED, `the credentials are no longer valid: ${err.message}`);
        else uncheckable ??= err;
      } else if (
        result.value?.namespace === identity.namespace &&
        result.value.serviceAccount === identity.serviceAccount
      ) {
        proven ||= stream.isOpen;
      } else {
        stream.close(GrpcStatus.UNAUTHENTICATED, "the credentials no longer prove the identity");
      }
    }
    if (!proven && uncheckable !== undefined) throw uncheckable;
    return proven;
  }

  /**
   * Whether every identified proxy has run `generation` or a newer one in
   * full (AdsStream.ranGeneration); undefined with no proxy. Convergence
   * asks it on every answer while a generation is open, so it resumes where
   * its last scan stopped, at a proxy that had not: one that had is not
   * looked at again for the generation (what a proxy ran only grows), and a
   * push is sent, and mostly answered, in the order of the scan. A proxy
   * identified since starts the scan over.
   */
  everyProxyRan(generation: number): boolean | undefined {
    let scan = this.ranScans.get(generation);
    if (!scan) {
      // The oldest scans go: only generations still open are asked about.
      if (this.ranScans.size >= 4) this.ranScans.delete(Math.min(...this.ranScans.keys()));
      scan = { streams: [...this.streams], next: 0, any: false };
      this.ranScans.set(generation, scan);
    }
    for (; scan.next < scan.streams.length; scan.next++) {
      const stream = scan.streams[scan.next]!;
      if (!stream.node || !stream.isOpen) continue;
      scan.any = true;
      if ((stream.ranGeneration() ?? -1) < generation) return false;
    }
    return scan.any ? true : undefined;
  }

  private channelOptions(): ChannelOptions {
    // grpc-js 1.14's server does not read grpc.keepalive_permit_without_calls
    // or grpc.http2.min_ping_interval_without_data_ms (client-side options
    // there), so they are not set; channelOptions can still pass them.
    return {
      "grpc.keepalive_time_ms": this.options.keepaliveTimeMs ?? 30_000,
      "grpc.keepalive_timeout_ms": this.options.keepaliveTimeoutMs ?? 10_000,
      "grpc.max_receive_message_length": this.options.maxReceiveMessageBytes ?? MAX_REQUEST_BYTES,
      "grpc.max_send_message_length": this.options.maxSendMessageBytes ?? 64 * MiB,
      ...this.options.channelOptions,
    };
  }

  /**
   * StreamClientStatus: each request is answered in turn, in order; a
   * refusal ends the stream with its status, as Envoy's servers do.
   */
  private serveClientStatus(
    call: ServerDuplexStream<Buffer, Uint8Array>,
    clientStatus: NonNullable<AdsServerOptions["clientStatus"]>,
  ): void {
    let answering = Promise.resolve();
    let ended = false;
    call.on("data", (request: Buffer) => {
      answering = answering.then(async () => {
        if (ended) return;
        const answer = await this.answered(clientStatus(request, call.metadata, call.getPeer()), "CSDS");
        if (ended) return;
        if ("response" in answer) call.write(answer.response);
        else {
          ended = true;
          call.emit("error", { ...answer, name: "CsdsError", message: answer.details });
        }
      });
    });
    call.on("end", () => {
      void answering.then(() => {
        if (!ended) call.end();
        ended = true;
      });
    });
    call.on("cancelled", () => (ended = true));
  }

  /** An answer, with anything the handler throws turned into INTERNAL (and logged). */
  private answered(answer: Promise<UnaryAnswer>, what: string): Promise<UnaryAnswer> {
    return answer.catch((err: unknown) => {
      this.log.error({ err }, `${what} threw`);
      return { code: GrpcStatus.INTERNAL, details: "internal error in the xDS server" };
    });
  }

  private accept(stream: AdsStream): void {
    this.streams.add(stream);
  }

  /**
   * Every stream is due for a push, spread over turns of the event loop
   * (see PushScheduler): generations that arrive before a stream's turn
   * come are pushed to it once, from the newest snapshot, and never inside
   * the source's own callback.
   */
  private schedulePush(): void {
    this.pushes.schedule(this.streams);
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.log.error({ err }, `${what} threw`);
    }
  }
}
