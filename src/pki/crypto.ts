import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";
import { withFinalNewline } from "./pem.js";

// @peculiar/x509 needs a WebCrypto provider and (through tsyringe) a Reflect
// polyfill; both are set up once, here, before any certificate is made.
x509.cryptoProvider.set(webcrypto as unknown as Crypto);

export { x509, webcrypto };

/** Every key Skiff makes: ECDSA P-256 with SHA-256, as Istio and SPIFFE tooling expect. */
export const ECDSA_P256 = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;

export async function privateKeyPem(key: CryptoKey): Promise<string> {
  return withFinalNewline(
    x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY"),
  );
}

/** A positive 128-bit serial number, hex. */
export function randomSerialNumber(): string {
  return Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString("hex")
    .replace(/^[89a-f]/, "1");
}
