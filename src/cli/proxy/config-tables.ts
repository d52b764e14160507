import { X509Certificate } from "node:crypto";
import type { Json } from "./client-config-json.js";
import type { ConfigKind, ProxyResource } from "./config-dump.js";
import { textTable } from "./text-table.js";

/** A concise table of one kind of a proxy's resources. Pure. */
export function configTable(kind: ConfigKind, resources: readonly ProxyResource[]): string {
  switch (kind) {
    case "clusters":
      return textTable(
        ["NAME", "TYPE", "LB POLICY", "CONNECT TIMEOUT", "TLS"],
        resources.map(({ name, body }) => [
          name,
          // STATIC and ROUND_ROBIN are the protos' zero values, which the JSON mapping leaves out.
          str(body["type"]) || (body["cluster_type"] ? "CUSTOM" : "STATIC"),
          str(body["lb_policy"]) || "ROUND_ROBIN",
          str(body["connect_timeout"]) || "-",
          body["transport_socket"] ? "yes" : "no",
        ]),
      );
    case "listeners":
      return textTable(
        ["NAME", "ADDRESS", "FILTER CHAINS", "FILTERS"],
        resources.map(({ name, body }) => [
          name,
          listenerAddress(body),
          String(chains(body).length),
          filterNames(body),
        ]),
      );
    case "routes":
      return textTable(
        ["ROUTE CONFIG", "VIRTUAL HOST", "DOMAINS", "MATCH", "CLUSTER"],
        resources.flatMap(({ name, body }) =>
          list(body["virtual_hosts"]).flatMap((host) =>
            list(host["routes"]).map((route) => [
              name,
              str(host["name"]),
              list<string>(host["domains"]).join(",") || "-",
              routeMatch(obj(route["match"])),
              routeTarget(route),
            ]),
          ),
        ),
      );
    case "endpoints":
      return textTable(
        ["CLUSTER", "ADDRESS", "HEALTH", "WEIGHT"],
        resources.flatMap(({ name, body }) =>
          list(body["endpoints"]).flatMap((locality) =>
            list(locality["lb_endpoints"]).map((lb) => [
              name,
              socketAddress(obj(obj(obj(lb["endpoint"])["address"])["socket_address"])),
              str(lb["health_status"]) || "UNKNOWN",
              String(lb["load_balancing_weight"] ?? locality["load_balancing_weight"] ?? 1),
            ]),
          ),
        ),
      );
    case "secrets":
      return textTable(
        ["NAME", "KIND", "SPIFFE ID", "SERIAL", "NOT BEFORE", "NOT AFTER", "ISSUER"],
        resources.flatMap(({ name, body }) => secretRows(name, body)),
      );
  }
}

function secretRows(name: string, body: Json): string[][] {
  const certificate = obj(body["tls_certificate"]);
  const validation = obj(body["validation_context"]);
  const [kind, source] = body["tls_certificate"]
    ? ["certificate", obj(certificate["certificate_chain"])]
    : ["trust bundle", obj(validation["trusted_ca"])];
  const certs = pemCertificates(dataSource(source));
  if (certs.length === 0) return [[name, kind, "-", "-", "-", "-", "-"]];
  return certs.map((cert) => [
    name,
    kind,
    (cert.subjectAltName ?? "")
      .split(", ")
      .find((san) => san.startsWith("URI:spiffe://"))
      ?.slice(4) ?? "-",
    cert.serialNumber,
    new Date(cert.validFrom).toISOString(),
    new Date(cert.validTo).toISOString(),
    cert.issuer.replaceAll("\n", ","),
  ]);
}

function dataSource(source: Json): string {
  if (typeof source["inline_string"] === "string") return source["inline_string"];
  if (typeof source["inline_bytes"] === "string")
    return Buffer.from(source["inline_bytes"], "base64").toString();
  return "";
}

function pemCertificates(pem: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  return blocks.flatMap((block) => {
    try {
      return [new X509Certificate(block)];
    } catch {
      return [];
    }
  });
}

function listenerAddress(listener: Json): string {
  if (listener["api_listener"]) return "api_listener";
  return socketAddress(obj(obj(listener["address"])["socket_address"])) || "-";
}

function socketAddress(socket: Json): string {
  const address = str(socket["address"]);
  const port = socket["port_value"];
  if (!address) return "";
  return port === undefined ? address : address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

function chains(listener: Json): Json[] {
  return [
    ...list(listener["filter_chains"]),
    ...(listener["default_filter_chain"] ? [obj(listener["default_filter_chain"])] : []),
  ];
}

function filterNames(listener: Json): string {
  const names = new Set(
    chains(listener).flatMap((chain) => list(chain["filters"]).map((f) => short(str(f["name"])))),
  );
  if (listener["api_listener"]) names.add("http_connection_manager");
  return [...names].join(",") || "-";
}

function routeMatch(match: Json): string {
  const path =
    (match["prefix"] !== undefined && `prefix ${str(match["prefix"]) || "/"}`) ||
    (match["path"] !== undefined && `path ${str(match["path"])}`) ||
    (match["safe_regex"] !== undefined && `regex ${str(obj(match["safe_regex"])["regex"])}`) ||
    (match["path_separated_prefix"] !== undefined && `prefix ${str(match["path_separated_prefix"])}`) ||
    "-";
  const headers = list(match["headers"]).length;
  return headers > 0 ? `${path} +${headers} header${headers > 1 ? "s" : ""}` : path;
}

function routeTarget(route: Json): string {
  const action = obj(route["route"]);
  if (action["cluster"]) return str(action["cluster"]);
  const weighted = list(obj(action["weighted_clusters"])["clusters"]);
  if (weighted.length > 0)
    return weighted.map((c) => `${str(c["name"])}:${String(c["weight"] ?? "")}`).join(",");
  if (route["redirect"]) return "(redirect)";
  if (route["direct_response"])
    return `(direct response ${String(obj(route["direct_response"])["status"] ?? "")})`;
  return "-";
}

/** envoy.filters.network.http_connection_manager -> http_connection_manager */
const short = (name: string) => name.split(".").at(-1) ?? name;
const str = (value: unknown): string => (typeof value === "string" ? value : "");
const obj = (value: unknown): Json => (typeof value === "object" && value !== null ? (value as Json) : {});
const list = <T = Json>(value: unknown): T[] => (Array.isArray(value) ? (value as T[]) : []);
