import { create, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { Metadata, type Client, type ClientDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { decodeMessage, messageToJson, messageType } from "../xds/protos/registry.js";
import { SOTW_PATH } from "../xds/server/service-definition.js";
import { SECRET_TYPE } from "../xds/translate/resource.js";
import { ROOT_CA_SECRET } from "../mesh/proxy.js";
import { ISSUER_SECRET, ISSUER_SIGNER, ISSUER_SPIFFE_ID } from "../xds/translate/issuer-secret.js";

const DISCOVERY = "envoy.service.discovery.v3";
const SECRET = "envoy.extensions.transport_sockets.tls.v3.Secret";
const INVALID_ARGUMENT = 3;

/** What the xDS server says a workload should trust, and be: ROOTCA and skiff-issuer. */
export interface MeshTrustUpdate {
  /** Every root the mesh trusts (several during a staged rotation). */
  readonly rootCertificatesPem: string;
  /** The SPIFFE ID the token proved: the one a CSR may name. */
  readonly spiffeId: string;
  /** The CA that signs now: a certificate it did not issue is due for replacement. */
  readonly signerPem: string;
}

export interface TrustWatchOptions {
  /** A channel to Skiff's xDS server, which the caller closes. */
  readonly client: Client;
  readonly node: { readonly id: string; readonly metadata?: JsonObject };
  /** The projected ServiceAccount token (audience skiff), read anew for each connection since the kubelet rotates it. */
  readonly token: () => Promise<string>;
  /** Called with each new trust bundle or signer; the response is ACKed once it resolves and NACKed if it throws. */
  readonly onTrust: (trust: MeshTrustUpdate) => Promise<void>;
  readonly logger: Logger;
  /** Delay before reconnecting after a stream ends, doubled up to maxRetryMs (defaults 500 ms, 30 s). */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
}

export interface TrustWatch {
  /** Ends the stream and stops reconnecting. */
  stop(): void;
}

interface SecretJson {
  name?: string;
  validationContext?: { trustedCa?: { inlineString?: string } };
  genericSecret?: { secrets?: Record<string, { inlineString?: string }> };
}

/**
 * Follows the mesh's trust from Skiff's xDS server: an ADS stream (state of
 * the world) that subscribes to the SDS Secrets `ROOTCA` and `skiff-issuer`,
 * authenticated with the ServiceAccount token, like a sidecar's. The server
 * pushes a new bundle at once when a root is added or removed, and a new
 * signer when one starts signing; each is handed to onTrust and then ACKed.
 * A stream that ends (server restart, network) is reopened with backoff,
 * with a fresh token. The private key is never asked for: the agent makes
 * its own (see certificate-requests.ts).
 */
export function watchMeshTrust(options: TrustWatchOptions): TrustWatch {
  const client = options.client;
  let call: ClientDuplexStream<Buffer, Buffer> | undefined;
  let stopped = false;
  let retryMs = options.retryMs ?? 500;
  let timer: NodeJS.Timeout | undefined;

  const request = (init: object) => {
    const desc = messageType(`${DISCOVERY}.DiscoveryRequest`);
    const bytes = toBinary(desc, create(desc, init as never));
    call?.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  };
  const subscription = { typeUrl: SECRET_TYPE, resourceNames: [ISSUER_SECRET, ROOT_CA_SECRET] };

  const reconnect = () => {
    if (stopped || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, retryMs);
    retryMs = Math.min(retryMs * 2, options.maxRetryMs ?? 30_000);
  };

  const connect = async () => {
    let token: string;
    try {
      token = await options.token();
    } catch (error) {
      options.logger.error({ err: error }, "cannot read the ServiceAccount token");
      return reconnect();
    }
    if (stopped) return;
    const metadata = new Metadata();
    metadata.set("authorization", `Bearer ${token.trim()}`);
    const stream = client.makeBidiStreamRequest(
      SOTW_PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      metadata,
    );
    call = stream;
    // Responses are handled one at a time, in order: a certificate is on disk before its ACK.
    let handling = Promise.resolve();
    stream.on("data", (bytes: Buffer) => {
      handling = handling.then(() => handle(bytes));
    });
    stream.on("error", (error: Error) =>
      options.logger.warn({ err: error }, "the certificate stream failed"),
    );
    stream.on("close", () => {
      if (call === stream) call = undefined;
      reconnect();
    });
    request({ ...subscription, node: options.node });
  };

  const handle = async (bytes: Buffer) => {
    const response = fromBinary(messageType(`${DISCOVERY}.DiscoveryResponse`), bytes) as unknown as {
      versionInfo: string;
      nonce: string;
      resources: { typeUrl: string; value: Uint8Array }[];
    };
    try {
      // Nothing yet (the identity is still being verified or issued): ACK and wait for the push.
      if (response.resources.length > 0) await options.onTrust(trustOf(response.resources));
      retryMs = options.retryMs ?? 500;
      request({ ...subscription, versionInfo: response.versionInfo, responseNonce: response.nonce });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      options.logger.error({ version: response.versionInfo, message }, "rejected the mesh's trust");
      request({
        ...subscription,
        responseNonce: response.nonce,
        errorDetail: { code: INVALID_ARGUMENT, message },
      });
    }
  };

  void connect();
  return {
    stop() {
      stopped = true;
      clearTimeout(timer);
      call?.cancel();
    },
  };
}

/** The trust bundle and issuer in an SDS response; throws when a part is missing. */
export function trustOf(resources: readonly { typeUrl: string; value: Uint8Array }[]): MeshTrustUpdate {
  const secrets = resources
    .filter((r) => r.typeUrl === SECRET_TYPE)
    .map((r) => messageToJson(SECRET, decodeMessage(SECRET, r.value)) as SecretJson);
  const roots = secrets.find((s) => s.name === ROOT_CA_SECRET)?.validationContext?.trustedCa?.inlineString;
  const issuer = secrets.find((s) => s.name === ISSUER_SECRET)?.genericSecret?.secrets ?? {};
  const spiffeId = issuer[ISSUER_SPIFFE_ID]?.inlineString;
  const signerPem = issuer[ISSUER_SIGNER]?.inlineString;
  if (!roots) throw new Error(`the response has no trust bundle in Secret ${ROOT_CA_SECRET}`);
  if (!spiffeId || !signerPem)
    throw new Error(`the response has no SPIFFE ID and signer in Secret ${ISSUER_SECRET}`);
  return { rootCertificatesPem: roots, spiffeId, signerPem };
}
