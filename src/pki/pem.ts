/** The PEM certificates in a bundle, in order, each ending in a newline. */
export function certificatePems(bundle: string): string[] {
  return (bundle.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g) ?? []).map(
    (pem) => (pem.endsWith("\n") ? pem : `${pem}\n`),
  );
}
