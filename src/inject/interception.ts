import type { MeshSpec } from "../api/v1alpha1/generated/mesh.js";
import { parseCidr } from "../net/ip.js";
import { DEFAULT_INTERCEPTION, type InterceptionOptions } from "./iptables.js";
import { DEFAULT_PROMETHEUS_PORT } from "../mesh/proxy.js";
import {
  EXCLUDE_INBOUND_PORTS_ANNOTATION,
  EXCLUDE_OUTBOUND_IP_RANGES_ANNOTATION,
  EXCLUDE_OUTBOUND_PORTS_ANNOTATION,
} from "../mesh/annotations.js";

/**
 * Pod annotations that add to the Mesh's spec.injection.interception lists.
 * Each value is a comma-separated list; spaces around items are ignored and
 * an empty value adds nothing:
 *
 * - `traffic.skiff.dev/excludeInboundPorts: "8080,9090"`: inbound ports that go
 *   straight to the application, bypassing the sidecar.
 * - `traffic.skiff.dev/excludeOutboundPorts: "5432"`: outbound destination
 *   ports that bypass the sidecar.
 * - `traffic.skiff.dev/excludeOutboundIPRanges: "10.0.0.0/8,fd00::/8"`:
 *   outbound destination ranges (IPv4 or IPv6 CIDRs) that bypass the sidecar.
 *
 * Annotations only add: a Pod cannot take back an exclusion the Mesh makes.
 */

/**
 * The interception options for one Pod: the Mesh's lists plus the Pod's
 * annotations, sorted and without duplicates. The Mesh's Prometheus port
 * (observability.metrics.prometheusPort), where the sidecar serves stats, is
 * excluded from inbound capture as well.
 *
 * - Pure.
 * - Throws an Error naming the annotation and the bad value when an
 *   annotation does not parse; the injector rejects the Pod with it.
 */
export function interceptionOptions(
  spec: MeshSpec | undefined,
  annotations: Readonly<Record<string, string>> | undefined,
): InterceptionOptions {
  const mesh = spec?.injection?.interception;
  const get = (key: string) => annotations?.[key];
  const prometheusPort = spec?.observability?.metrics?.prometheusPort;
  return {
    proxyUid: DEFAULT_INTERCEPTION.proxyUid,
    inboundCapturePort: DEFAULT_INTERCEPTION.inboundCapturePort,
    outboundCapturePort: DEFAULT_INTERCEPTION.outboundCapturePort,
    excludeInboundPorts: sortedPorts([
      ...(mesh?.excludeInboundPorts ?? []),
      ...(prometheusPort !== undefined && prometheusPort !== DEFAULT_PROMETHEUS_PORT ? [prometheusPort] : []),
      ...annotationPorts(EXCLUDE_INBOUND_PORTS_ANNOTATION, get(EXCLUDE_INBOUND_PORTS_ANNOTATION)),
    ]),
    excludeOutboundPorts: sortedPorts([
      ...(mesh?.excludeOutboundPorts ?? []),
      ...annotationPorts(EXCLUDE_OUTBOUND_PORTS_ANNOTATION, get(EXCLUDE_OUTBOUND_PORTS_ANNOTATION)),
    ]),
    excludeOutboundCIDRs: sortedCidrs([
      ...(mesh?.excludeOutboundCIDRs ?? []),
      ...annotationCidrs(EXCLUDE_OUTBOUND_IP_RANGES_ANNOTATION, get(EXCLUDE_OUTBOUND_IP_RANGES_ANNOTATION)),
    ]),
  };
}

/** A comma-separated list of ports; `what` names the source in the error. */
export function parsePortList(value: string, what: string): number[] {
  return listItems(value).map((item) => {
    if (!/^[0-9]{1,5}$/.test(item) || Number(item) < 1 || Number(item) > 65535)
      throw new Error(`${what}: "${item}" in "${value}" is not a port number (1-65535)`);
    return Number(item);
  });
}

/** A comma-separated list of IPv4 or IPv6 CIDRs, in canonical form; `what` names the source in the error. */
export function parseCidrList(value: string, what: string): string[] {
  return listItems(value).map((item) => {
    const parsed = parseCidr(item);
    if (!parsed)
      throw new Error(`${what}: "${item}" in "${value}" is not a CIDR such as 10.0.0.0/8 or fd00::/8`);
    return parsed.cidr;
  });
}

function annotationPorts(key: string, value: string | undefined): number[] {
  return value === undefined ? [] : parsePortList(value, `annotation ${key}`);
}

function annotationCidrs(key: string, value: string | undefined): string[] {
  return value === undefined ? [] : parseCidrList(value, `annotation ${key}`);
}

function listItems(value: string): string[] {
  const items = value.split(",").map((s) => s.trim());
  if (items.length === 1 && items[0] === "") return [];
  return items;
}

function sortedPorts(ports: number[]): number[] {
  return [...new Set(ports)].sort((a, b) => a - b);
}

/** Canonical, deduplicated, IPv4 before IPv6, then by address. */
function sortedCidrs(cidrs: string[]): string[] {
  const parsed = cidrs.map((c) => {
    const p = parseCidr(c);
    if (!p) throw new Error(`excludeOutboundCIDRs: "${c}" is not a CIDR such as 10.0.0.0/8 or fd00::/8`);
    return p;
  });
  const unique = new Map(parsed.map((p) => [p.cidr, p]));
  return [...unique.values()]
    .sort((a, b) => {
      if (a.family !== b.family) return a.family === "ipv4" ? -1 : 1;
      for (let i = 0; i < a.parts.length; i++) {
        const d = a.parts[i]! - b.parts[i]!;
        if (d !== 0) return d;
      }
      return a.prefix - b.prefix;
    })
    .map((p) => p.cidr);
}

/**
 * The `skiff iptables` arguments that reproduce the options in the skiff-init
 * container; flags equal to the defaults are left out. Pure.
 */
export function iptablesArgs(options: InterceptionOptions): string[] {
  const args: string[] = [];
  const flag = (name: string, value: string, fallback: string) => {
    if (value !== fallback) args.push(name, value);
  };
  flag("--proxy-uid", String(options.proxyUid), String(DEFAULT_INTERCEPTION.proxyUid));
  flag("--inbound-port", String(options.inboundCapturePort), String(DEFAULT_INTERCEPTION.inboundCapturePort));
  flag(
    "--outbound-port",
    String(options.outboundCapturePort),
    String(DEFAULT_INTERCEPTION.outboundCapturePort),
  );
  flag("--exclude-inbound-ports", options.excludeInboundPorts.join(","), "");
  flag("--exclude-outbound-ports", options.excludeOutboundPorts.join(","), "");
  flag("--exclude-outbound-cidrs", options.excludeOutboundCIDRs.join(","), "");
  return args;
}
