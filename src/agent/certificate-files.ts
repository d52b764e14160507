import { chmod, mkdir, rename, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";

/** The files a workload's certificate is written to, under the agent's directory (Istio's names). */
export const CERTIFICATE_CHAIN_FILE = "cert-chain.pem";
export const PRIVATE_KEY_FILE = "key.pem";
export const ROOT_CERTIFICATE_FILE = "root-cert.pem";

export interface WorkloadCertificate {
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
  /** The trust bundle: every root the mesh trusts. */
  readonly rootCertificatesPem: string;
}

/**
 * Writes a workload certificate for programs that read it from files
 * (gRPC's file_watcher certificate provider). Each file is written to a
 * temporary name and renamed into place, so a reader never sees half a file;
 * the key is readable by its owner only. The key and chain are replaced
 * before the bundle: a reader that catches the files between two renames
 * holds a chain the (older, superset) bundle still verifies.
 */
export async function writeCertificateFiles(
  directory: string,
  certificate: WorkloadCertificate,
): Promise<void> {
  await replace(join(directory, PRIVATE_KEY_FILE), certificate.privateKeyPem, 0o600);
  await replace(join(directory, CERTIFICATE_CHAIN_FILE), certificate.certificateChainPem, 0o644);
  await replace(join(directory, ROOT_CERTIFICATE_FILE), certificate.rootCertificatesPem, 0o644);
}

/** Writes a file under a temporary name and renames it into place, creating its directory. */
export async function replace(path: string, content: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temporary = `${path}.tmp-${process.pid}`;
  await writeFile(temporary, content, { mode });
  await chmod(temporary, mode);
  await rename(temporary, path);
}
