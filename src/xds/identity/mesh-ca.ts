import type { KeyPair } from "../../pki/issue.js";

/** What the CA Secret offers when nothing may sign: only the roots to trust. */
export interface MeshTrust {
  /** Every root the mesh trusts, for ROOTCA. */
  trustBundlePem: string;
}

export interface MeshCa extends MeshTrust {
  /**
   * The CA that signs workload certificates: the builtin root, or
   * cert-manager's intermediate (its tls.crt may carry the chain above it).
   */
  signer: KeyPair;
  trustDomain: string;
  workloadValidityMs: number;
}

export const canSign = (ca: MeshCa | MeshTrust | undefined): ca is MeshCa =>
  ca !== undefined && "signer" in ca;
