import { create, fromBinary, toBinary, type JsonObject } from "@bufbuild/protobuf";
import { Client, credentials, Metadata, type ClientDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { decodeMessage, messageToJson, messageType } from "../xds/protos/registry.js";
import { SOTW_PATH } from "../xds/server/service-definition.js";
import { SECRET_TYPE } from "../xds/translate/resource.js";
import { ROOT_CA_SECRET, WORKLOAD_SECRET } from "../mesh/proxy.js";
import type { WorkloadCertificate } from "./certificate-files.js";

const DISCOVERY = "envoy.service.discovery.v3";
const SECRET = "envoy.extensions.transport_sockets.tls.v3.Secret";
const INVALID_ARGUMENT = 3;

export interface CertificateWatchOptions {
  /** host:port of Skiff's xDS server. */
  readonly address: string;
  readonly node: { readonly id: string; readonly metadata?: JsonObject };
  /** The projected ServiceAccount token (audience skiff), read anew for each connection since the kubelet rotates it. */
  readonly token: () => Promise<string>;
  /** Called with each new certificate; the response is ACKed once it resolves and NACKed if it throws. */
  readonly onCertificate: (certificate: WorkloadCertificate) => Promise<void>;
  readonly logger: Logger;
  /** Delay before reconnecting after a stream ends, doubled up to maxRetryMs (defaults 500 ms, 30 s). */
  readonly retryMs?: number;
  readonly maxRetryMs?: number;
}

export interface CertificateWatch {
  /** Ends the stream and stops reconnecting. */
  stop(): void;
}

interface SecretJson {
  name?: string;
  tlsCertificate?: { certificateChain?: { inlineString?: string }; privateKey?: { inlineString?: string } };
  validationContext?: { trustedCa?: { inlineString?: string } };
}

/**
 * Keeps a workload certificate from Skiff's xDS server: an ADS stream
 * (state of the world) that subscribes to the SDS Secrets `default` and
 * `ROOTCA`, authenticated with the ServiceAccount token, like a sidecar's.
 * The server pushes a new certificate before the old one reaches 80% of its
 * life; each is handed to onCertificate and then ACKed. A stream that ends
 * (server restart, network) is reopened with backoff, with a fresh token.
 */
export function watchWorkloadCertificate(options: CertificateWatchOptions): CertificateWatch {
  const client = new Client(options.address, credentials.createInsecure());
  let call: ClientDuplexStream<Buffer, Buffer> | undefined;
  let stopped = false;
  let retryMs = options.retryMs ?? 500;
  let timer: NodeJS.Timeout | undefined;

  const request = (init: object) => {
    const desc = messageType(`${DISCOVERY}.DiscoveryRequest`);
    const bytes = toBinary(desc, create(desc, init as never));
    call?.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  };
  const subscription = { typeUrl: SECRET_TYPE, resourceNames: [WORKLOAD_SECRET, ROOT_CA_SECRET] };

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
      if (response.resources.length > 0) await options.onCertificate(certificateOf(response.resources));
      retryMs = options.retryMs ?? 500;
      request({ ...subscription, versionInfo: response.versionInfo, responseNonce: response.nonce });
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      options.logger.error({ version: response.versionInfo, message }, "rejected a workload certificate");
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
      client.close();
    },
  };
}

/** The certificate in an SDS response; throws when a part is missing. */
export function certificateOf(
  resources: readonly { typeUrl: string; value: Uint8Array }[],
): WorkloadCertificate {
  const secrets = resources
    .filter((r) => r.typeUrl === SECRET_TYPE)
    .map((r) => messageToJson(SECRET, decodeMessage(SECRET, r.value)) as SecretJson);
  const workload = secrets.find((s) => s.name === WORKLOAD_SECRET)?.tlsCertificate;
  const roots = secrets.find((s) => s.name === ROOT_CA_SECRET)?.validationContext?.trustedCa?.inlineString;
  const chain = workload?.certificateChain?.inlineString;
  const key = workload?.privateKey?.inlineString;
  if (!chain || !key) throw new Error(`the response has no certificate and key in Secret ${WORKLOAD_SECRET}`);
  if (!roots) throw new Error(`the response has no trust bundle in Secret ${ROOT_CA_SECRET}`);
  return { certificateChainPem: chain, privateKeyPem: key, rootCertificatesPem: roots };
}
