import type { IPod, IVolume } from "kubernetes-models/v1";
import { ContainerConfigError, podFieldValue, type PodInputs, type PodRuntimeFacts } from "./pod-inputs.js";

/** One file of a volume: its path inside the volume, bytes and mode. */
export interface VolumeFile {
  path: string;
  content: Buffer;
  mode: number;
}

/** How a volume is backed on the node. */
export type VolumeSource =
  { kind: "files"; files: VolumeFile[] } | { kind: "emptyDir" } | { kind: "hostPath"; path: string };

/** A token the node asked the TokenRequest API for, by audience and lifetime. */
export type TokenLookup = (audience: string, expirationSeconds: number) => string;

/** Every ServiceAccount token a Pod's volumes need, as (audience, expirationSeconds). */
export function requestedTokens(pod: IPod): { audience: string; expirationSeconds: number }[] {
  const tokens: { audience: string; expirationSeconds: number }[] = [];
  for (const volume of pod.spec?.volumes ?? [])
    for (const source of volume.projected?.sources ?? [])
      if (source.serviceAccountToken)
        tokens.push({
          audience: source.serviceAccountToken.audience ?? "",
          expirationSeconds: source.serviceAccountToken.expirationSeconds ?? 3600,
        });
  return tokens;
}

const DEFAULT_MODE = 0o644;

/**
 * What a volume holds, as the kubelet would write it: ConfigMap and Secret
 * keys (or the listed items), downward-API fields, projected sources and
 * ServiceAccount tokens. Pure. Throws ContainerConfigError for a missing
 * object or key that is not optional, and for a kind the node cannot back.
 */
export function volumeSource(
  pod: IPod,
  volume: IVolume,
  inputs: PodInputs,
  facts: PodRuntimeFacts,
  token: TokenLookup,
): VolumeSource {
  if (volume.emptyDir) return { kind: "emptyDir" };
  if (volume.hostPath) return { kind: "hostPath", path: volume.hostPath.path };
  if (volume.configMap) {
    const { name = "", items, optional, defaultMode } = volume.configMap;
    return {
      kind: "files",
      files: configMapFiles(inputs, name, items, optional, defaultMode ?? DEFAULT_MODE),
    };
  }
  if (volume.secret) {
    const { secretName = "", items, optional, defaultMode } = volume.secret;
    return {
      kind: "files",
      files: secretFiles(inputs, secretName, items, optional, defaultMode ?? DEFAULT_MODE),
    };
  }
  if (volume.downwardAPI) {
    const mode = volume.downwardAPI.defaultMode ?? DEFAULT_MODE;
    return { kind: "files", files: downwardFiles(pod, volume.downwardAPI.items ?? [], facts, mode) };
  }
  if (volume.projected) {
    const mode = volume.projected.defaultMode ?? DEFAULT_MODE;
    const files: VolumeFile[] = [];
    for (const source of volume.projected.sources ?? []) {
      if (source.configMap) {
        const { name = "", items, optional } = source.configMap;
        files.push(...configMapFiles(inputs, name, items, optional, mode));
      } else if (source.secret) {
        const { name = "", items, optional } = source.secret;
        files.push(...secretFiles(inputs, name, items, optional, mode));
      } else if (source.downwardAPI) {
        files.push(...downwardFiles(pod, source.downwardAPI.items ?? [], facts, mode));
      } else if (source.serviceAccountToken) {
        const { audience = "", expirationSeconds = 3600, path } = source.serviceAccountToken;
        files.push({ path, content: Buffer.from(token(audience, expirationSeconds)), mode });
      }
    }
    return { kind: "files", files };
  }
  throw new ContainerConfigError(
    `volume "${volume.name}": this kind of volume is not supported by the local node`,
  );
}

type KeyItems = { key: string; path: string; mode?: number }[] | undefined;

function keyedFiles(
  what: string,
  data: Map<string, Buffer> | undefined,
  items: KeyItems,
  optional: boolean | undefined,
  mode: number,
): VolumeFile[] {
  if (!data) {
    if (optional) return [];
    throw new ContainerConfigError(`${what} not found`);
  }
  if (!items) return [...data].map(([key, content]) => ({ path: key, content, mode }));
  return items.flatMap((item) => {
    const content = data.get(item.key);
    if (content === undefined) {
      if (optional) return [];
      throw new ContainerConfigError(`key "${item.key}" of ${what} not found`);
    }
    return [{ path: item.path, content, mode: item.mode ?? mode }];
  });
}

function configMapFiles(
  inputs: PodInputs,
  name: string,
  items: KeyItems,
  optional: boolean | undefined,
  mode: number,
) {
  const cm = inputs.configMaps.get(name);
  const data = cm
    ? new Map([
        ...Object.entries(cm.data ?? {}).map(([k, v]) => [k, Buffer.from(v)] as const),
        ...Object.entries(cm.binaryData ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")] as const),
      ])
    : undefined;
  return keyedFiles(`configmap "${name}"`, data, items, optional, mode);
}

function secretFiles(
  inputs: PodInputs,
  name: string,
  items: KeyItems,
  optional: boolean | undefined,
  mode: number,
) {
  const secret = inputs.secrets.get(name);
  const data = secret
    ? new Map(Object.entries(secret.data ?? {}).map(([k, v]) => [k, Buffer.from(v, "base64")] as const))
    : undefined;
  return keyedFiles(`secret "${name}"`, data, items, optional, mode);
}

function downwardFiles(
  pod: IPod,
  items: { path: string; fieldRef?: { fieldPath: string }; mode?: number }[],
  facts: PodRuntimeFacts,
  mode: number,
): VolumeFile[] {
  return items.flatMap((item) =>
    item.fieldRef
      ? [
          {
            path: item.path,
            content: Buffer.from(podFieldValue(pod, item.fieldRef.fieldPath, facts)),
            mode: item.mode ?? mode,
          },
        ]
      : [],
  );
}

/**
 * Rejects volume file paths that would escape the volume's folder, as the
 * API server's validation does (absolute paths and `..` elements).
 */
export function safeRelativePath(path: string): boolean {
  return path !== "" && !path.startsWith("/") && !path.split("/").includes("..");
}
