import type { XdsChannelSettings } from "../agent/xds-channel.js";

/** The flags of the channel to the xDS server, shared by both modes. */
export const XDS_CHANNEL_OPTIONS = {
  "xds-address": { type: "string", default: "skiff-xds.skiff-system.svc:15010" },
  "xds-server-name": { type: "string" },
  "trust-bundle": { type: "string", default: "/etc/skiff/trust/root-cert.pem" },
  "insecure-xds": { type: "boolean", default: false },
} as const;

export const XDS_CHANNEL_USAGE = `  --xds-address HOST:PORT   Skiff's xDS server (default skiff-xds.skiff-system.svc:15010)
  --xds-server-name NAME    the name its certificate must carry (default: the host of --xds-address)
  --trust-bundle PATH       the mesh roots it must chain to (default /etc/skiff/trust/root-cert.pem)
  --insecure-xds            plaintext to an xDS server run with --insecure (local experiments only)`;

/** The channel to the xDS server from XDS_CHANNEL_OPTIONS' values, or a usage error. */
export function xdsChannelSettings(values: {
  "xds-address": string;
  "xds-server-name"?: string | undefined;
  "trust-bundle": string;
  "insecure-xds": boolean;
}): XdsChannelSettings | { error: string } {
  const address = values["xds-address"];
  const host = /^(.+):[0-9]{1,5}$/.exec(address)?.[1];
  if (!host) return { error: `--xds-address must be host:port, not '${address}'` };
  if (values["insecure-xds"]) return { address };
  return { address, trustBundleFile: values["trust-bundle"], serverName: values["xds-server-name"] ?? host };
}
