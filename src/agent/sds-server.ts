import { mkdir, rm } from "node:fs/promises";
import { dirname } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Server, ServerCredentials, type ServerDuplexStream, type ServiceDefinition } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { ROOT_CA_SECRET, WORKLOAD_SECRET } from "../mesh/proxy.js";
import { encodeJson, messageType } from "../xds/protos/registry.js";
import { SECRET_TYPE } from "../xds/translate/resource.js";
import type { WorkloadCertificate } from "./certificate-files.js";

/** Envoy's SDS over gRPC (api_type GRPC): one state-of-the-world stream per secret subscription. */
export const STREAM_SECRETS_PATH = "/envoy.service.secret.v3.SecretDiscoveryService/StreamSecrets";

const DISCOVERY = "envoy.service.discovery.v3";
const SECRET = "envoy.extensions.transport_sockets.tls.v3.Secret";

const passThrough = (bytes: Buffer): Buffer => bytes;
const sdsServiceDefinition: ServiceDefinition = {
  StreamSecrets: {
    path: STREAM_SECRETS_PATH,
    requestStream: true,
    responseStream: true,
    requestSerialize: passThrough,
    requestDeserialize: passThrough,
    responseSerialize: passThrough,
    responseDeserialize: passThrough,
  },
};

export interface RunningSdsServer {
  /** A new certificate or trust bundle: every stream gets it now. */
  update(certificate: WorkloadCertificate): void;
  stop(): Promise<void>;
}

interface DiscoveryRequest {
  versionInfo: string;
  resourceNames: string[];
  responseNonce: string;
  errorDetail?: { message: string };
}

interface SdsStream {
  readonly call: ServerDuplexStream<Buffer, Buffer>;
  names: readonly string[];
  /** The version last sent, so a request that only ACKs it gets no answer. */
  sent?: number;
  nonce: number;
}

/**
 * The agent's SDS server, as Istio's pilot-agent has: Envoy in the same
 * container fetches the workload certificate (`default`, with its private
 * key) and the trust bundle (`ROOTCA`) from a Unix socket that only the
 * Pod's own processes reach. The key was made by the agent and never leaves
 * the Pod; the xDS server only ever saw its CSR.
 *
 * Each stream gets the secrets it names as soon as the agent has a
 * certificate, and again at every renewal or trust bundle change. A NACK is
 * logged; Envoy keeps its previous secret.
 */
export async function startSdsServer(options: {
  socketPath: string;
  logger: Logger;
}): Promise<RunningSdsServer> {
  const streams = new Set<SdsStream>();
  let current: { version: number; secrets: Map<string, Uint8Array> } | undefined;

  const respond = (stream: SdsStream) => {
    if (!current || stream.sent === current.version) return;
    const resources = stream.names.flatMap((name) => {
      const value = current!.secrets.get(name);
      return value ? [{ typeUrl: SECRET_TYPE, value }] : [];
    });
    if (resources.length === 0) return;
    const desc = messageType(`${DISCOVERY}.DiscoveryResponse`);
    const bytes = toBinary(
      desc,
      create(desc, {
        versionInfo: String(current.version),
        typeUrl: SECRET_TYPE,
        nonce: String(++stream.nonce),
        resources,
      } as never),
    );
    stream.sent = current.version;
    stream.call.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  };

  const server = new Server();
  server.addService(sdsServiceDefinition, {
    StreamSecrets: (call: ServerDuplexStream<Buffer, Buffer>) => {
      const stream: SdsStream = { call, names: [], nonce: 0 };
      streams.add(stream);
      call.on("data", (bytes: Buffer) => {
        let request: DiscoveryRequest;
        try {
          request = fromBinary(
            messageType(`${DISCOVERY}.DiscoveryRequest`),
            bytes,
          ) as unknown as DiscoveryRequest;
        } catch {
          call.emit("error", { code: 3, details: "not a DiscoveryRequest" });
          return;
        }
        if (request.errorDetail)
          options.logger.error(
            { names: request.resourceNames, message: request.errorDetail.message },
            "Envoy rejected a secret",
          );
        const names = [...request.resourceNames].sort();
        if (names.join("\n") !== stream.names.join("\n")) {
          stream.names = names;
          stream.sent = undefined;
        }
        respond(stream);
      });
      call.on("end", () => call.end());
      call.on("close", () => streams.delete(stream));
      call.on("error", () => streams.delete(stream));
    },
  });
  // A socket left by a previous run (a crash) would make the bind fail.
  await mkdir(dirname(options.socketPath), { recursive: true });
  await rm(options.socketPath, { force: true });
  await new Promise<void>((resolve, reject) =>
    server.bindAsync(`unix:${options.socketPath}`, ServerCredentials.createInsecure(), (error) =>
      error ? reject(error) : resolve(),
    ),
  );
  return {
    update(certificate) {
      current = { version: (current?.version ?? 0) + 1, secrets: envoySecrets(certificate) };
      for (const stream of streams) respond(stream);
    },
    async stop() {
      for (const stream of streams) stream.call.end();
      await new Promise<void>((resolve) => server.tryShutdown(() => resolve()));
    },
  };
}

/** The two Secrets Envoy asks for, by Istio's names, encoded. */
function envoySecrets(certificate: WorkloadCertificate): Map<string, Uint8Array> {
  return new Map([
    [
      WORKLOAD_SECRET,
      encodeJson(SECRET, {
        name: WORKLOAD_SECRET,
        tlsCertificate: {
          certificateChain: { inlineString: certificate.certificateChainPem },
          privateKey: { inlineString: certificate.privateKeyPem },
        },
      }),
    ],
    [
      ROOT_CA_SECRET,
      encodeJson(SECRET, {
        name: ROOT_CA_SECRET,
        validationContext: { trustedCa: { inlineString: certificate.rootCertificatesPem } },
      }),
    ],
  ]);
}
