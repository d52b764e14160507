import type { IContainer, IPod } from "kubernetes-models/v1";
import { expandVariables } from "./images.js";

/**
 * The API objects a Pod's containers read (ConfigMaps and Secrets, by name,
 * in the Pod's namespace), fetched before anything starts, as the kubelet
 * does. `undefined` means the object does not exist.
 */
export interface PodInputs {
  configMaps: ReadonlyMap<
    string,
    { data?: Record<string, string>; binaryData?: Record<string, string> } | undefined
  >;
  secrets: ReadonlyMap<string, { data?: Record<string, string> } | undefined>;
}

/** What the node knows of a Pod at run time, beyond its spec. */
export interface PodRuntimeFacts {
  podIP: string;
  hostIP: string;
  nodeName: string;
}

/** Names of the ConfigMaps and Secrets a Pod refers to, from volumes, env and envFrom. */
export function referencedObjects(pod: IPod): { configMaps: Set<string>; secrets: Set<string> } {
  const configMaps = new Set<string>();
  const secrets = new Set<string>();
  for (const volume of pod.spec?.volumes ?? []) {
    if (volume.configMap?.name) configMaps.add(volume.configMap.name);
    if (volume.secret?.secretName) secrets.add(volume.secret.secretName);
    for (const source of volume.projected?.sources ?? []) {
      if (source.configMap?.name) configMaps.add(source.configMap.name);
      if (source.secret?.name) secrets.add(source.secret.name);
    }
  }
  for (const container of allContainers(pod)) {
    for (const from of container.envFrom ?? []) {
      if (from.configMapRef?.name) configMaps.add(from.configMapRef.name);
      if (from.secretRef?.name) secrets.add(from.secretRef.name);
    }
    for (const variable of container.env ?? []) {
      const ref = variable.valueFrom;
      if (ref?.configMapKeyRef?.name) configMaps.add(ref.configMapKeyRef.name);
      if (ref?.secretKeyRef?.name) secrets.add(ref.secretKeyRef.name);
    }
  }
  return { configMaps, secrets };
}

export function allContainers(pod: IPod): IContainer[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
}

/** A value that the kubelet would refuse to start the container for. */
export class ContainerConfigError extends Error {
  override name = "CreateContainerConfigError";
}

/**
 * The value of a downward-API field path of the Pod, as the kubelet gives it
 * to env and to downwardAPI volumes. Throws ContainerConfigError for paths
 * Kubernetes does not support.
 */
export function podFieldValue(pod: IPod, fieldPath: string, facts: PodRuntimeFacts): string {
  const meta = pod.metadata ?? {};
  const mapKey = /^metadata\.(labels|annotations)\['(.+)'\]$/.exec(fieldPath);
  if (mapKey) return (mapKey[1] === "labels" ? meta.labels : meta.annotations)?.[mapKey[2]!] ?? "";
  switch (fieldPath) {
    case "metadata.name":
      return meta.name ?? "";
    case "metadata.namespace":
      return meta.namespace ?? "";
    case "metadata.uid":
      return meta.uid ?? "";
    case "metadata.labels":
      return formatMap(meta.labels);
    case "metadata.annotations":
      return formatMap(meta.annotations);
    case "spec.nodeName":
      return facts.nodeName;
    case "spec.serviceAccountName":
      return pod.spec?.serviceAccountName ?? "default";
    case "status.hostIP":
    case "status.hostIPs":
      return facts.hostIP;
    case "status.podIP":
    case "status.podIPs":
      return facts.podIP;
    default:
      throw new ContainerConfigError(`unsupported fieldPath ${fieldPath}`);
  }
}

/** The downward API's `key="value"` lines, sorted by key. */
function formatMap(map: Record<string, string> | undefined): string {
  return Object.keys(map ?? {})
    .sort()
    .map((key) => `${key}=${JSON.stringify(map![key])}`)
    .join("\n");
}

const decode = (base64: string) => Buffer.from(base64, "base64").toString("utf8");

/**
 * A container's environment, in the kubelet's order: the Service variables
 * the node provides (`serviceEnv`, e.g. KUBERNETES_SERVICE_HOST), then
 * envFrom, then env, each `$(VAR)` in env values expanded against what came
 * before. A missing ConfigMap, Secret or key that is not optional throws
 * ContainerConfigError, as the kubelet refuses to start such a container.
 */
export function containerEnvironment(
  pod: IPod,
  container: IContainer,
  inputs: PodInputs,
  facts: PodRuntimeFacts,
  serviceEnv: ReadonlyMap<string, string>,
): Map<string, string> {
  const env = new Map(serviceEnv);
  for (const from of container.envFrom ?? []) {
    const prefix = from.prefix ?? "";
    if (from.configMapRef) {
      const cm = inputs.configMaps.get(from.configMapRef.name ?? "");
      if (!cm && !from.configMapRef.optional)
        throw new ContainerConfigError(`configmap "${from.configMapRef.name}" not found`);
      for (const [k, v] of Object.entries(cm?.data ?? {})) env.set(prefix + k, v);
    }
    if (from.secretRef) {
      const secret = inputs.secrets.get(from.secretRef.name ?? "");
      if (!secret && !from.secretRef.optional)
        throw new ContainerConfigError(`secret "${from.secretRef.name}" not found`);
      for (const [k, v] of Object.entries(secret?.data ?? {})) env.set(prefix + k, decode(v));
    }
  }
  for (const variable of container.env ?? []) {
    const ref = variable.valueFrom;
    if (!ref) {
      env.set(variable.name, expandVariables(variable.value ?? "", env));
    } else if (ref.fieldRef) {
      env.set(variable.name, podFieldValue(pod, ref.fieldRef.fieldPath, facts));
    } else if (ref.configMapKeyRef) {
      const { name = "", key, optional } = ref.configMapKeyRef;
      const value = inputs.configMaps.get(name)?.data?.[key];
      if (value !== undefined) env.set(variable.name, value);
      else if (!optional) throw new ContainerConfigError(`key "${key}" of configmap "${name}" not found`);
    } else if (ref.secretKeyRef) {
      const { name = "", key, optional } = ref.secretKeyRef;
      const value = inputs.secrets.get(name)?.data?.[key];
      if (value !== undefined) env.set(variable.name, decode(value));
      else if (!optional) throw new ContainerConfigError(`key "${key}" of secret "${name}" not found`);
    } else if (ref.resourceFieldRef) {
      env.set(variable.name, resourceValue(container, ref.resourceFieldRef.resource));
    }
  }
  return env;
}

/**
 * requests.* and limits.* for env, in the kubelet's units (cores rounded up,
 * bytes); an unset limit is the node's capacity, which the local node states
 * as 2 CPUs and 8 GiB.
 */
function resourceValue(container: IContainer, resource: string): string {
  const [kind, name] = resource.split(".") as ["requests" | "limits", string];
  const quantity = container.resources?.[kind]?.[name];
  if (quantity === undefined) return name === "cpu" ? "2" : String(8 * 1024 ** 3);
  return String(quantity);
}
