import { parse } from "yaml";
import { PROXY_CONFIG_ANNOTATION } from "../mesh/annotations.js";

/** An environment variable of the sidecar container. */
export interface EnvVar {
  name: string;
  value: string;
}

/** What a Pod's proxy.skiff.dev/config gives its sidecar, and what the Pod's creator should hear about it. */
export interface ProxyConfigOverrides {
  /** proxyMetadata, as environment variables of the skiff-proxy container, by name. */
  env: EnvVar[];
  warnings: string[];
}

/** A name the kubelet passes on as written (a C identifier, as Istio's proxyMetadata keys are). */
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * A Pod's per-workload proxy settings, as Istio's `proxy.istio.io/config`:
 * a ProxyConfig in YAML (or JSON) in the annotation `proxy.skiff.dev/config`.
 * Skiff reads its `proxyMetadata`, the environment variables that Istio
 * hands to the sidecar's agent and Envoy (`SECRET_TTL`, the certificate
 * lifetime the agent asks for, is one the agent reads); other ProxyConfig
 * fields are ignored, with a warning. Pure. Throws, naming the annotation,
 * when the value is not a mapping or proxyMetadata is not a map of names to
 * strings: the injector then refuses the Pod rather than run its sidecar
 * otherwise than asked.
 */
export function proxyConfigOverrides(annotations: Record<string, string> | undefined): ProxyConfigOverrides {
  const text = annotations?.[PROXY_CONFIG_ANNOTATION];
  if (text === undefined) return { env: [], warnings: [] };
  const refuse = (why: string) => new Error(`annotation ${PROXY_CONFIG_ANNOTATION}: ${why}`);
  let config: unknown;
  try {
    config = parse(text);
  } catch (error) {
    throw refuse(`not YAML: ${(error as Error).message}`);
  }
  if (config === null || config === undefined) return { env: [], warnings: [] };
  if (typeof config !== "object" || Array.isArray(config)) throw refuse("must be a ProxyConfig mapping");
  const { proxyMetadata = {}, ...ignored } = config as Record<string, unknown>;
  if (typeof proxyMetadata !== "object" || proxyMetadata === null || Array.isArray(proxyMetadata))
    throw refuse("proxyMetadata must map variable names to strings");
  const env = Object.entries(proxyMetadata as Record<string, unknown>).map(([name, value]) => {
    if (!ENV_NAME.test(name)) throw refuse(`proxyMetadata: '${name}' is not an environment variable name`);
    if (typeof value !== "string") throw refuse(`proxyMetadata.${name} must be a string (quote it)`);
    return { name, value };
  });
  const others = Object.keys(ignored).sort();
  return {
    env: env.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0)),
    warnings:
      others.length === 0
        ? []
        : [
            `annotation ${PROXY_CONFIG_ANNOTATION}: only proxyMetadata is read; ignored: ${others.join(", ")}`,
          ],
  };
}
