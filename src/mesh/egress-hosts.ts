/**
 * The grammar of egress hosts, Istio's Sidecar `egress.hosts`: which
 * Services a sidecar is configured for. Shared by the Mesh schema, the
 * injector (which refuses a malformed Pod annotation) and compile.
 *
 * Each host is `<namespace>/<dnsName>`:
 * - namespace: a namespace name, `.` (the workload's own namespace), `*`
 *   (every namespace) or `~` (no namespace: `~/*` selects nothing);
 * - dnsName: `*` (every Service of the namespace), an FQDN such as
 *   `reviews.bookinfo.svc.cluster.local`, or one with a wildcard left-most
 *   label such as `*.bookinfo.svc.cluster.local`.
 */

const LABEL = "[a-z0-9]([-a-z0-9]*[a-z0-9])?";

/** One egress host, as a regular expression (the CRD's pattern and the annotation's check). */
export const EGRESS_HOST_PATTERN = `^(\\*|\\.|~|${LABEL})/(\\*|(\\*\\.)?${LABEL}(\\.${LABEL})*)$`;

/** The longest host: a namespace (63) and a DNS name (253), with the slash. */
export const EGRESS_HOST_MAX_LENGTH = 317;

/** The Mesh-wide default: every Service of every namespace, so a workload can call any Service it has never called before. */
export const WHOLE_MESH_EGRESS = "*/*";

const HOST = new RegExp(EGRESS_HOST_PATTERN);

/**
 * The hosts of an annotation value (comma-separated, blanks around entries
 * ignored). Throws, naming the entry, when one is malformed or the list is
 * empty.
 */
export function parseEgressHosts(value: string): string[] {
  const hosts = value
    .split(",")
    .map((h) => h.trim())
    .filter((h) => h !== "");
  if (hosts.length === 0) throw new Error("lists no host; write ~/* for none, */* for the whole mesh");
  for (const host of hosts)
    if (host.length > EGRESS_HOST_MAX_LENGTH || !HOST.test(host))
      throw new Error(
        `${JSON.stringify(host)} is not <namespace>/<dnsName> (namespace: a name, ".", "*" or "~"; dnsName: "*", an FQDN, or one starting with "*.")`,
      );
  return hosts;
}
