import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import { status as GrpcStatus, type Metadata } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { certificateIssuance, certificateRequests } from "../../observability/metrics.js";
import { certificateChain } from "../../pki/chain.js";
import { checkWorkloadCsr } from "../../pki/csr.js";
import { signingCaFromPem, type SigningCa } from "../../pki/issue.js";
import { certificatePems } from "../../pki/pem.js";
import { signWorkloadCertificate, spiffeId } from "../../pki/workload.js";
import { messageType } from "../protos/registry.js";
import { authenticationFailure } from "../server/authentication-error.js";
import type { WorkloadIdentity } from "../cache/snapshot.js";
import type { MeshCa, MeshTrust } from "./mesh-ca.js";
import { bearerToken } from "./token-review.js";
import type { TokenReviews } from "./token-reviews.js";

const REQUEST = messageType("istio.v1.auth.IstioCertificateRequest");
const RESPONSE = messageType("istio.v1.auth.IstioCertificateResponse");

/**
 * A CSR is about a kilobyte (2 with an RSA-4096 key); Istio's metadata adds
 * little. Anything much larger is not a certificate request, and is refused
 * before it is parsed.
 */
export const MAX_CERTIFICATE_REQUEST_BYTES = 64 * 1024;

export type CertificateAnswer =
  { readonly response: Uint8Array } | { readonly code: GrpcStatus; readonly details: string };

export interface CertificateServiceOptions {
  /** The mesh CA as the xDS server reads it (meshCa): the one signer ROOTCA vouches for. */
  readonly ca: () => MeshCa | MeshTrust | undefined;
  readonly tokens: Pick<TokenReviews, "identifyNow">;
  readonly logger: Logger;
}

/**
 * Answers IstioCertificateService/CreateCertificate: a workload proves its
 * ServiceAccount with its projected token (as on ADS) and sends a CSR for
 * exactly that SPIFFE ID; it gets a certificate for the CSR's key, leaf
 * first, then the signer's intermediates (roots come over SDS ROOTCA).
 *
 * Statuses: no or refused token UNAUTHENTICATED; a peer sending too many
 * refused tokens RESOURCE_EXHAUSTED; a review or CA that is not available
 * UNAVAILABLE; a CSR for other names PERMISSION_DENIED; anything malformed
 * INVALID_ARGUMENT. Each outcome is counted, each refusal logged; nothing a
 * client sends can make it throw.
 */
export class CertificateService {
  private signer?: { certPem: string; ca: Promise<SigningCa> };

  constructor(private readonly options: CertificateServiceOptions) {}

  async answer(request: Uint8Array, metadata: Metadata, peer: string): Promise<CertificateAnswer> {
    const started = performance.now();
    let identity: WorkloadIdentity | undefined;
    let answer: CertificateAnswer;
    try {
      answer = await this.decide(request, metadata, peer, (proven) => (identity = proven));
    } catch (error) {
      this.options.logger.error({ err: error, peer }, "a certificate request failed unexpectedly");
      answer = { code: GrpcStatus.INTERNAL, details: "the certificate could not be issued" };
    }
    const outcome = "response" in answer ? "issued" : GrpcStatus[answer.code]!.toLowerCase();
    certificateRequests.inc({ outcome });
    if ("response" in answer) certificateIssuance.observe((performance.now() - started) / 1000);
    const who = identity ? `${identity.namespace}/${identity.serviceAccount}` : undefined;
    if ("response" in answer) this.options.logger.debug({ peer, identity: who }, "issued a certificate");
    else
      this.options.logger.warn(
        { peer, identity: who, outcome, reason: answer.details },
        "refused a certificate request",
      );
    return answer;
  }

  private async decide(
    bytes: Uint8Array,
    metadata: Metadata,
    peer: string,
    proven: (identity: WorkloadIdentity) => void,
  ): Promise<CertificateAnswer> {
    if (bytes.byteLength > MAX_CERTIFICATE_REQUEST_BYTES)
      return invalid(
        `the request is ${bytes.byteLength} bytes; at most ${MAX_CERTIFICATE_REQUEST_BYTES} are accepted`,
      );
    // Who is asking comes first: nothing an unauthenticated client sends is parsed.
    let identity: WorkloadIdentity;
    try {
      const token = bearerToken(metadata);
      if (token === undefined)
        return { code: GrpcStatus.UNAUTHENTICATED, details: "no bearer token: send the projected token" };
      identity = await this.options.tokens.identifyNow(token, peer);
    } catch (error) {
      const { code, details } = authenticationFailure(error);
      return { code, details };
    }
    proven(identity);
    const ca = this.options.ca();
    if (!ca || !("signer" in ca))
      return { code: GrpcStatus.UNAVAILABLE, details: "the mesh CA cannot sign (yet); retry later" };
    let request: { csr: string; validityDuration: bigint };
    try {
      request = fromBinary(REQUEST, bytes) as unknown as typeof request;
    } catch (error) {
      return invalid(`the request is not an IstioCertificateRequest: ${(error as Error).message}`);
    }
    if (request.validityDuration < 0n) return invalid("validity_duration may not be negative");
    const id = spiffeId(ca.trustDomain, identity.namespace, identity.serviceAccount);
    const csr = await checkWorkloadCsr(request.csr, id);
    if (!csr.ok)
      return csr.kind === "identity"
        ? { code: GrpcStatus.PERMISSION_DENIED, details: csr.message }
        : invalid(csr.message);
    // 0 asks for the Mesh's validity; more is never granted.
    const requestedMs = Number(request.validityDuration) * 1000;
    const leafPem = await signWorkloadCertificate(await this.signingCa(ca.signer), csr.publicKey, {
      trustDomain: ca.trustDomain,
      namespace: identity.namespace,
      serviceAccount: identity.serviceAccount,
      validityMs: requestedMs > 0 ? Math.min(requestedMs, ca.workloadValidityMs) : ca.workloadValidityMs,
      now: new Date(),
    });
    const certChain = certificatePems(certificateChain(leafPem, ca.signer.certPem));
    return { response: toBinary(RESPONSE, create(RESPONSE, { certChain } as never)) };
  }

  /** The signer's key is imported once per signer, not once per request. */
  private signingCa(signer: MeshCa["signer"]): Promise<SigningCa> {
    if (this.signer?.certPem !== signer.certPem)
      this.signer = { certPem: signer.certPem, ca: signingCaFromPem(signer) };
    return this.signer.ca;
  }
}

const invalid = (details: string): CertificateAnswer => ({ code: GrpcStatus.INVALID_ARGUMENT, details });
