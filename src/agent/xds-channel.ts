import { credentials, experimental, type ChannelCredentials, type ChannelOptions } from "@grpc/grpc-js";

/** How the agent reaches Skiff's xDS server. */
export interface XdsChannelSettings {
  /** host:port of the xDS server. */
  readonly address: string;
  /**
   * The mesh roots (PEM file, the trust bundle ConfigMap's): TLS, and the
   * server must show a certificate from one of them. Absent: plaintext,
   * for a server run with --insecure.
   */
  readonly trustBundleFile?: string;
  /** The name the server's certificate must carry; default: the address's host. */
  readonly serverName?: string;
}

/** A channel's credentials and options, built once per agent and shared by all its clients. */
export interface XdsChannel {
  readonly credentials: ChannelCredentials;
  readonly options: ChannelOptions;
}

/** How often the trust bundle file is re-read: the kubelet updates a ConfigMap volume within about a minute. */
const BUNDLE_REFRESH_MS = 30_000;

/**
 * The credentials and options of a channel to the xDS server. The trust
 * bundle is watched, not read once: during a staged root rotation the
 * server's certificate moves to the new root only after the bundle in every
 * Pod holds it, and the agent must follow without a restart.
 */
export function xdsChannel(settings: XdsChannelSettings): XdsChannel {
  if (!settings.trustBundleFile) return { credentials: credentials.createInsecure(), options: {} };
  const roots = new experimental.FileWatcherCertificateProvider({
    caCertificateFile: settings.trustBundleFile,
    refreshIntervalMs: BUNDLE_REFRESH_MS,
  });
  return {
    credentials: experimental.createCertificateProviderChannelCredentials(roots, null),
    options: settings.serverName ? { "grpc.ssl_target_name_override": settings.serverName } : {},
  };
}
