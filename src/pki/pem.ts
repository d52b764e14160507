/** The PEM certificates in a bundle, in order, each ending in a newline. */
export function certificatePems(bundle: string): string[] {
  return (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? []).map((pem) =>
    withFinalNewline(pem),
  );
}

/**
 * A certificate as PEM, ending in a newline. @peculiar/x509 writes none, and
 * a bundle made by concatenating such PEMs has `-----END CERTIFICATE-----`
 * and the next `-----BEGIN` on one line, which OpenSSL (Envoy) and Go (the
 * API server reading a caBundle) do not read.
 */
export function certificatePem(cert: { toString(format: "pem"): string }): string {
  return withFinalNewline(cert.toString("pem"));
}

/** A PEM block ending in a newline. */
export function withFinalNewline(pem: string): string {
  return pem.endsWith("\n") ? pem : `${pem}\n`;
}
