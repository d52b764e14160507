import { create, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import {
  Client,
  credentials,
  Metadata,
  type ChannelCredentials,
  type ChannelOptions,
  type ClientDuplexStream,
  type StatusObject,
} from "@grpc/grpc-js";
import { decodeMessage, messageType } from "../../src/xds/protos/registry.js";

/**
 * A test ADS client that speaks like Envoy: it sends the node on the first
 * request only, repeats its current subscription when it ACKs or NACKs, and
 * can also misbehave (stale nonces, garbage bytes, no node). It decodes
 * responses with the same descriptor set the server uses, but independently
 * of the server's code.
 */
const SERVICE = "/envoy.service.discovery.v3.AggregatedDiscoveryService";
const DISCOVERY = "envoy.service.discovery.v3";

export interface ReceivedResource {
  readonly name: string;
  readonly typeUrl: string;
  /** The Any's value: the resource's encoding as the server sent it. */
  readonly value: Uint8Array;
  /** Delta only: Resource.version. */
  readonly version?: string;
}

export interface SotwResponse {
  readonly versionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly ReceivedResource[];
  readonly names: readonly string[];
}

export interface DeltaResponse {
  readonly systemVersionInfo: string;
  readonly typeUrl: string;
  readonly nonce: string;
  readonly resources: readonly ReceivedResource[];
  readonly names: readonly string[];
  readonly removedResources: readonly string[];
}

export interface ClientNode {
  readonly id: string;
  readonly cluster?: string;
  readonly metadata?: JsonObject;
}

interface AnyFields {
  typeUrl: string;
  value: Uint8Array;
}

/** The name inside an encoded resource: `name`, or `cluster_name` for a ClusterLoadAssignment. */
function resourceName(any: AnyFields): string {
  const message = decodeMessage(
    any.typeUrl.slice(any.typeUrl.lastIndexOf("/") + 1),
    any.value,
  ) as unknown as {
    name?: string;
    clusterName?: string;
  };
  return message.name ?? message.clusterName ?? "";
}

/** A plain Uint8Array copy (decoding a Buffer yields Buffer views), so assertions compare bytes only. */
function plain(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes);
}

function encode(fullName: string, init: object): Buffer {
  const desc = messageType(fullName);
  const bytes = toBinary(desc, create(desc, init as never));
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

const WAIT_MS = 3000;

/**
 * A connection of the client's own, as each proxy has. Otherwise grpc-js
 * clients of one address share one: a test that opens and cancels streams
 * quickly (over 33 a second after a burst of 1000) then has it closed by the
 * server's HTTP/2 rapid-reset limit (nghttp2: GOAWAY, INTERNAL_ERROR), and
 * every stream on it ends.
 */
export const OWN_CONNECTION: ChannelOptions = { "grpc.use_local_subchannel_pool": 1 };

abstract class AdsTestStream<Resp> {
  /** Resolves with the status the server ended the stream with. */
  readonly status: Promise<StatusObject>;
  private readonly client: Client;
  private readonly call: ClientDuplexStream<Buffer, Buffer>;
  private readonly queue: Resp[] = [];
  private waiter?: () => void;
  protected sentNode = false;

  constructor(
    address: string,
    path: string,
    protected readonly node: ClientNode | null,
    /** A ServiceAccount token, sent as `authorization: Bearer <token>`, as a sidecar does. */
    token?: string,
    /** grpc-js channel options: OWN_CONNECTION, say. */
    options: ChannelOptions = {},
    /** TLS toward a server in secure mode; plaintext by default. */
    channelCredentials: ChannelCredentials = credentials.createInsecure(),
  ) {
    this.client = new Client(address, channelCredentials, options);
    const metadata = new Metadata();
    if (token !== undefined) metadata.set("authorization", `Bearer ${token}`);
    this.call = this.client.makeBidiStreamRequest(
      path,
      (b: Buffer) => b,
      (b: Buffer) => b,
      metadata,
    );
    this.status = new Promise((resolve) => this.call.on("status", resolve));
    // A non-OK status is also emitted as an error; it is read through `status`.
    this.call.on("error", () => {});
    this.call.on("data", (bytes: Buffer) => {
      this.queue.push(this.decode(bytes));
      this.waiter?.();
    });
  }

  protected abstract decode(bytes: Buffer): Resp;

  /** The next response, failing after `timeoutMs`. */
  async next(timeoutMs = WAIT_MS): Promise<Resp> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no response within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift()!;
  }

  /** Fails if any response arrives within `ms`. */
  async expectNothing(ms = 300): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    if (this.queue.length > 0)
      throw new Error(`unexpected response: ${JSON.stringify(this.queue[0], replacer)}`);
  }

  /** Sends bytes as they are, as a broken client would. */
  sendRaw(bytes: Uint8Array): void {
    this.call.write(Buffer.from(bytes));
  }

  protected send(fullName: string, init: object): void {
    const withNode = this.node && !this.sentNode ? { ...init, node: this.node } : init;
    this.sentNode = true;
    this.call.write(encode(`${DISCOVERY}.${fullName}`, withNode));
  }

  /** Half-closes the stream: the client will send nothing more, as a proxy that is done. */
  halfClose(): void {
    this.call.end();
  }

  close(): void {
    this.call.cancel();
    this.client.close();
  }
}

function replacer(_key: string, value: unknown) {
  return value instanceof Uint8Array ? `<${value.length} bytes>` : value;
}

export interface SotwRequestInit {
  readonly typeUrl: string;
  readonly resourceNames?: readonly string[];
  readonly versionInfo?: string;
  readonly responseNonce?: string;
  /** Makes the request a NACK. */
  readonly errorDetail?: string;
}

/** A StreamAggregatedResources client. */
export class SotwClient extends AdsTestStream<SotwResponse> {
  private readonly subscriptions = new Map<string, readonly string[]>();

  /** A null node sends none at all, which the server must reject. */
  constructor(
    address: string,
    node: ClientNode | null = { id: "proxy-1" },
    token?: string,
    options?: ChannelOptions,
    channelCredentials?: ChannelCredentials,
  ) {
    super(address, `${SERVICE}/StreamAggregatedResources`, node, token, options, channelCredentials);
  }

  protected decode(bytes: Buffer): SotwResponse {
    const m = fromBinary(messageType(`${DISCOVERY}.DiscoveryResponse`), bytes) as unknown as {
      versionInfo: string;
      typeUrl: string;
      nonce: string;
      resources: AnyFields[];
    };
    const resources = m.resources.map((a) => ({
      name: resourceName(a),
      typeUrl: a.typeUrl,
      value: plain(a.value),
    }));
    return { ...m, resources, names: resources.map((r) => r.name) };
  }

  /** A request; it becomes the type's subscription, repeated by ack and nack. */
  request(init: SotwRequestInit): void {
    const names = init.resourceNames ?? this.subscriptions.get(init.typeUrl) ?? [];
    this.subscriptions.set(init.typeUrl, names);
    this.send("DiscoveryRequest", {
      typeUrl: init.typeUrl,
      resourceNames: [...names],
      versionInfo: init.versionInfo ?? "",
      responseNonce: init.responseNonce ?? "",
      ...(init.errorDetail !== undefined ? { errorDetail: { code: 3, message: init.errorDetail } } : {}),
    });
  }

  ack(response: SotwResponse, resourceNames?: readonly string[]): void {
    this.request({
      typeUrl: response.typeUrl,
      versionInfo: response.versionInfo,
      responseNonce: response.nonce,
      resourceNames,
    });
  }

  /** Envoy's NACK: the nonce of the rejected response, the version it still runs. */
  nack(response: SotwResponse, message: string, lastAckedVersion = ""): void {
    this.request({
      typeUrl: response.typeUrl,
      versionInfo: lastAckedVersion,
      responseNonce: response.nonce,
      errorDetail: message,
    });
  }
}

export interface DeltaRequestInit {
  readonly typeUrl: string;
  readonly subscribe?: readonly string[];
  readonly unsubscribe?: readonly string[];
  readonly initialResourceVersions?: Readonly<Record<string, string>>;
  readonly responseNonce?: string;
  readonly errorDetail?: string;
}

/** A DeltaAggregatedResources client. */
export class DeltaClient extends AdsTestStream<DeltaResponse> {
  /** A null node sends none at all, which the server must reject. */
  constructor(
    address: string,
    node: ClientNode | null = { id: "proxy-1" },
    token?: string,
    options?: ChannelOptions,
    channelCredentials?: ChannelCredentials,
  ) {
    super(address, `${SERVICE}/DeltaAggregatedResources`, node, token, options, channelCredentials);
  }

  protected decode(bytes: Buffer): DeltaResponse {
    const m = fromBinary(messageType(`${DISCOVERY}.DeltaDiscoveryResponse`), bytes) as unknown as {
      systemVersionInfo: string;
      typeUrl: string;
      nonce: string;
      resources: { name: string; version: string; resource?: AnyFields }[];
      removedResources: string[];
    };
    const resources = m.resources.map((r) => ({
      name: r.name,
      version: r.version,
      typeUrl: r.resource?.typeUrl ?? "",
      value: plain(r.resource?.value ?? new Uint8Array()),
    }));
    return { ...m, resources, names: resources.map((r) => r.name) };
  }

  request(init: DeltaRequestInit): void {
    this.send("DeltaDiscoveryRequest", {
      typeUrl: init.typeUrl,
      resourceNamesSubscribe: [...(init.subscribe ?? [])],
      resourceNamesUnsubscribe: [...(init.unsubscribe ?? [])],
      initialResourceVersions: { ...init.initialResourceVersions },
      responseNonce: init.responseNonce ?? "",
      ...(init.errorDetail !== undefined ? { errorDetail: { code: 3, message: init.errorDetail } } : {}),
    });
  }

  ack(response: DeltaResponse): void {
    this.request({ typeUrl: response.typeUrl, responseNonce: response.nonce });
  }

  nack(response: DeltaResponse, message: string): void {
    this.request({ typeUrl: response.typeUrl, responseNonce: response.nonce, errorDetail: message });
  }
}
