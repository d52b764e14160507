import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { Metadata, type Client, type ServiceError } from "@grpc/grpc-js";
import { ECDSA_P256, privateKeyPem, webcrypto, x509 } from "../pki/crypto.js";
import { messageType } from "../xds/protos/registry.js";
import { CREATE_CERTIFICATE_PATH } from "../xds/server/service-definition.js";

const REQUEST = messageType("istio.v1.auth.IstioCertificateRequest");
const RESPONSE = messageType("istio.v1.auth.IstioCertificateResponse");

/** A fresh key, made here, and a CSR for it that names `spiffeId` as its only SAN. */
export async function keyAndCsr(spiffeId: string): Promise<{ privateKeyPem: string; csrPem: string }> {
  const keys = await webcrypto.subtle.generateKey(ECDSA_P256, true, ["sign", "verify"]);
  const csr = await x509.Pkcs10CertificateRequestGenerator.create({
    keys,
    signingAlgorithm: ECDSA_P256,
    extensions: [new x509.SubjectAlternativeNameExtension([{ type: "url", value: spiffeId }], true)],
  });
  return { privateKeyPem: await privateKeyPem(keys.privateKey), csrPem: csr.toString("pem") };
}

/**
 * Sends a CSR to IstioCertificateService/CreateCertificate with the Pod's
 * token, and resolves with the certificate chain (leaf first); rejects with
 * the gRPC ServiceError (its `code` says whether retrying can help).
 */
export function createCertificate(
  client: Client,
  request: { token: string; csrPem: string; validitySeconds: number; deadlineMs: number },
): Promise<string[]> {
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${request.token.trim()}`);
  const body = toBinary(
    REQUEST,
    create(REQUEST, { csr: request.csrPem, validityDuration: BigInt(request.validitySeconds) } as never),
  );
  return new Promise((resolve, reject) =>
    client.makeUnaryRequest(
      CREATE_CERTIFICATE_PATH,
      (bytes: Uint8Array) => Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      (bytes: Buffer) => fromBinary(RESPONSE, bytes) as unknown as { certChain: string[] },
      body,
      metadata,
      { deadline: Date.now() + request.deadlineMs },
      (error: ServiceError | null, response?: { certChain: string[] }) => {
        if (error) reject(error);
        else if (!response?.certChain.length) reject(new Error("the CA answered with no certificate"));
        else resolve(response.certChain);
      },
    ),
  );
}
