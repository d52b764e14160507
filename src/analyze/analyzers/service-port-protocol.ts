import { refOf, type Analyzer } from "../analyzer.js";
import type { Detection } from "../finding.js";

/**
 * The protocols a port name may start with (`<protocol>[-<suffix>]`), as in
 * Istio's naming convention; compile reads HTTP ones, and the rest say on
 * purpose that the port is not HTTP.
 */
const NAMED_PROTOCOLS = new Set([
  "grpc",
  "grpc-web",
  "http",
  "http2",
  "https",
  "h2c",
  "mongo",
  "mysql",
  "redis",
  "tcp",
  "tls",
  "udp",
]);

/**
 * A Service port in a meshed namespace whose protocol neither its
 * appProtocol nor its name's prefix says: Skiff does not sniff, so it is
 * opaque TCP, without HTTP routing, retries, metrics by status or HTTP
 * authorization fields. Istio's IST0118 PortNameIsNotUnderNamingConvention.
 */
export const servicePortProtocol: Analyzer = {
  code: "SKF0501",
  severity: "warning",
  name: "PortProtocolNotNamed",
  fix: "Name the port <protocol>[-<suffix>] (http, http2, grpc, tcp...), or set its appProtocol.",
  analyze: (view) =>
    view.snapshot.services
      .filter((service) => view.meshedNamespaces.has(service.metadata?.namespace ?? ""))
      .flatMap((service) =>
        (service.spec?.ports ?? []).flatMap((port, index): Detection[] => {
          if ((port.protocol ?? "TCP") !== "TCP" || port.appProtocol) return [];
          const name = (port.name ?? "").toLowerCase();
          if (name === "grpc-web" || name.startsWith("grpc-web-")) return [];
          if (NAMED_PROTOCOLS.has(name.split("-")[0]!)) return [];
          return [
            {
              object: refOf("Service", service.metadata),
              field: `spec.ports[${index}]`,
              message: `port ${port.port}${port.name ? ` (${JSON.stringify(port.name)})` : ""} names no protocol, so the mesh treats it as opaque TCP: no HTTP routing, retries or HTTP authorization fields`,
            },
          ];
        }),
      ),
};
