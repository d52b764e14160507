import type { IContainer, IPod, IVolume } from "kubernetes-models/v1";
import {
  AGENT_RUN_DIRECTORY,
  HEALTH_PATH,
  HEALTH_PORT,
  INBOUND_CAPTURE_PORT,
  OUTBOUND_CAPTURE_PORT,
  PROXY_UID,
} from "../mesh/proxy.js";
import {
  HOLD_ANNOTATION,
  INJECT_ANNOTATION,
  PROXYLESS_ANNOTATION,
  STATUS_ANNOTATION,
} from "../mesh/annotations.js";
import { appProbeRewrite } from "./probes.js";
import type { EnvVar } from "./proxy-config.js";

/** Names of the containers injection adds. */
export const PROXY_CONTAINER = "skiff-proxy";
export const INIT_CONTAINER = "skiff-init";
export const TOKEN_AUDIENCE = "skiff";

const BOOTSTRAP_VOLUME = "skiff-bootstrap";
const TRUST_VOLUME = "skiff-trust-bundle";
const TOKEN_VOLUME = "skiff-token";
const AGENT_VOLUME = "skiff-agent";

/** What a sidecar needs, from the Mesh and the operator. */
export interface SidecarSettings {
  /** skiff agent and Envoy (see proxyImageOf). */
  proxyImage: string;
  proxyResources?: IContainer["resources"];
  /** Envoy's arguments (see sidecarArgs in bootstrap.ts). */
  proxyArgs: string[];
  /** Where the agent dials the xDS server (see xdsServiceAddress). */
  xdsAddress: string;
  /** The Skiff image, for the init container. */
  initImage: string;
  /** `skiff iptables` arguments for this Pod (Mesh interception merged with the Pod's annotations). */
  initArgs: string[];
  bootstrapConfigMap: string;
  trustBundleConfigMap: string;
  /** Where the sidecar serves Prometheus metrics (the Mesh's observability.metrics.prometheusPort). */
  prometheusPort: number;
  /** The Pod's own additions to the sidecar's environment (proxy.skiff.dev/config's proxyMetadata). */
  proxyEnv?: readonly EnvVar[];
}

/** "replace" only for the application's probes (src/inject/probes.ts); everything else is added. */
export type JsonPatchOperation = { op: "add" | "replace"; path: string; value: unknown };

/** Why a Pod gets no sidecar, or undefined when it should get one. */
export function skipReason(pod: IPod): string | undefined {
  const annotations = pod.metadata?.annotations ?? {};
  if (annotations[INJECT_ANNOTATION] === "false") return `the Pod opted out (${INJECT_ANNOTATION}: "false")`;
  if (annotations[PROXYLESS_ANNOTATION] === "true")
    return `the Pod is proxyless gRPC (${PROXYLESS_ANNOTATION}: "true")`;
  if (
    annotations[STATUS_ANNOTATION] !== undefined ||
    pod.spec?.containers.some((c) => c.name === PROXY_CONTAINER)
  )
    return "the Pod already has a sidecar";
  if (pod.spec?.hostNetwork)
    return "the Pod uses the host network, where iptables redirection would capture the node's traffic";
  return undefined;
}

/**
 * The JSON patch that adds Skiff's sidecar to a Pod: the skiff-init
 * container (iptables), the skiff-proxy container (Envoy), their volumes and
 * the status annotation. Only additions, so the patch never rewrites what the
 * user wrote, except HTTP and TCP probes, which must go through the agent to
 * pass under STRICT mTLS (probes.ts). Pure; returns [] when skipReason says so.
 *
 * With proxy.skiff.dev/holdApplicationUntilProxyStarts: "true" the proxy is a
 * native sidecar (an init container with restartPolicy: Always and a startup
 * probe), which Kubernetes starts and waits for before the application
 * containers.
 */
export function sidecarPatch(pod: IPod, settings: SidecarSettings): JsonPatchOperation[] {
  if (skipReason(pod)) return [];
  const hold = pod.metadata?.annotations?.[HOLD_ANNOTATION] === "true";
  const proxy = proxyContainer(settings, hold, drainSeconds(pod));
  const probes = appProbeRewrite(pod);
  if (probes.env) proxy.env!.push(probes.env);
  const init = initContainer(settings);
  const ops: JsonPatchOperation[] = [];
  const append = (path: string, present: boolean, values: unknown[]) => {
    if (present) for (const value of values) ops.push({ op: "add", path: `${path}/-`, value });
    else ops.push({ op: "add", path, value: values });
  };
  // iptables first, so nothing the Pod runs later can bypass the proxy.
  if (pod.spec?.initContainers?.length) ops.push({ op: "add", path: "/spec/initContainers/0", value: init });
  else ops.push({ op: "add", path: "/spec/initContainers", value: [init] });
  if (hold) ops.push({ op: "add", path: "/spec/initContainers/1", value: proxy });
  else append("/spec/containers", true, [proxy]);
  append("/spec/volumes", Boolean(pod.spec?.volumes?.length), volumes(settings));
  ops.push(...probes.replacements);
  // A projected token needs a named ServiceAccount. The ServiceAccount
  // admission plugin names "default" before webhooks run, but where it is
  // off the Pod would be rejected; name the same account it would.
  if (!pod.spec?.serviceAccountName)
    ops.push({ op: "add", path: "/spec/serviceAccountName", value: "default" });
  if (pod.metadata?.annotations)
    ops.push({ op: "add", path: `/metadata/annotations/${escape(STATUS_ANNOTATION)}`, value: "injected" });
  else ops.push({ op: "add", path: "/metadata/annotations", value: { [STATUS_ANNOTATION]: "injected" } });
  return ops;
}

const escape = (key: string) => key.replace(/~/g, "~0").replace(/\//g, "~1");

/** How long a terminating Pod's proxy keeps serving before its SIGTERM. */
export const PROXY_DRAIN_SECONDS = 5;

/**
 * The proxy's drain for this Pod: the API server refuses a preStop sleep
 * that is not shorter than the grace period (default 30 s), so a short
 * grace period shortens it; 0 means none.
 */
function drainSeconds(pod: IPod): number {
  return Math.min(PROXY_DRAIN_SECONDS, (pod.spec?.terminationGracePeriodSeconds ?? 30) - 1);
}

function proxyContainer(s: SidecarSettings, hold: boolean, drain: number): IContainer {
  // Istio's sidecar startup probe: every second for up to 10 minutes. Once it
  // passes, the kubelet runs the readiness probe at once, so the Pod is Ready
  // about a second after Envoy has its configuration, not a readiness period
  // later; with holdApplicationUntilProxyStarts it also holds the application.
  const startupProbe = {
    httpGet: { path: HEALTH_PATH, port: HEALTH_PORT },
    periodSeconds: 1,
    failureThreshold: 600,
  };
  return {
    name: PROXY_CONTAINER,
    image: s.proxyImage,
    // skiff agent starts Envoy, and serves it xDS (over TLS with the Pod's token) and its certificate.
    args: ["agent", "sidecar", "--xds-address", s.xdsAddress, "--", ...s.proxyArgs],
    ...(hold ? { restartPolicy: "Always" } : {}),
    startupProbe,
    // Envoy exits at once on SIGTERM, resetting every request in flight to
    // it. Kept up while callers learn the endpoint is gone (Istio's
    // terminationDrainDuration, 5 s), it answers those requests, with a 503
    // the callers' retry policy takes once the application has exited.
    ...(drain > 0 ? { lifecycle: { preStop: { sleep: { seconds: drain } } } } : {}),
    env: [
      { name: "POD_NAME", valueFrom: { fieldRef: { fieldPath: "metadata.name" } } },
      { name: "POD_NAMESPACE", valueFrom: { fieldRef: { fieldPath: "metadata.namespace" } } },
      { name: "POD_IP", valueFrom: { fieldRef: { fieldPath: "status.podIP" } } },
      // Envoy's OpenTelemetry tracer names its spans' service from this (the
      // environment resource detector); the kubelet expands the two above.
      { name: "OTEL_RESOURCE_ATTRIBUTES", value: "service.name=$(POD_NAME).$(POD_NAMESPACE)" },
      // The Pod's own, after Skiff's: a name it repeats is its own (the kubelet takes the last).
      ...(s.proxyEnv ?? []),
    ],
    ports: [
      { name: "skiff-outbound", containerPort: OUTBOUND_CAPTURE_PORT, protocol: "TCP" },
      { name: "skiff-inbound", containerPort: INBOUND_CAPTURE_PORT, protocol: "TCP" },
      { name: "http-envoy-prom", containerPort: s.prometheusPort, protocol: "TCP" },
      { name: "skiff-health", containerPort: HEALTH_PORT, protocol: "TCP" },
    ],
    readinessProbe: {
      httpGet: { path: HEALTH_PATH, port: HEALTH_PORT },
      periodSeconds: 5,
      failureThreshold: 3,
    },
    ...(s.proxyResources ? { resources: s.proxyResources } : {}),
    securityContext: {
      runAsUser: PROXY_UID,
      runAsGroup: PROXY_UID,
      runAsNonRoot: true,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ["ALL"] },
    },
    volumeMounts: [
      { name: BOOTSTRAP_VOLUME, mountPath: "/etc/skiff/bootstrap", readOnly: true },
      { name: TRUST_VOLUME, mountPath: "/etc/skiff/trust", readOnly: true },
      { name: TOKEN_VOLUME, mountPath: "/var/run/secrets/skiff/tokens", readOnly: true },
      // The agent's sockets for Envoy: the root filesystem is read-only.
      { name: AGENT_VOLUME, mountPath: AGENT_RUN_DIRECTORY },
    ],
  };
}

/** Sets up iptables, so it needs NET_ADMIN and NET_RAW, and root; it exits before the Pod's own containers start. */
function initContainer(s: SidecarSettings): IContainer {
  return {
    name: INIT_CONTAINER,
    image: s.initImage,
    args: ["iptables", ...s.initArgs],
    securityContext: {
      runAsUser: 0,
      runAsNonRoot: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { add: ["NET_ADMIN", "NET_RAW"], drop: ["ALL"] },
    },
  };
}

function volumes(s: SidecarSettings): IVolume[] {
  return [
    { name: BOOTSTRAP_VOLUME, configMap: { name: s.bootstrapConfigMap } },
    { name: TRUST_VOLUME, configMap: { name: s.trustBundleConfigMap } },
    {
      name: TOKEN_VOLUME,
      projected: {
        sources: [
          { serviceAccountToken: { audience: TOKEN_AUDIENCE, expirationSeconds: 3600, path: "token" } },
        ],
      },
    },
    // In memory: it holds only sockets, and the private key stays in the agent's memory anyway.
    { name: AGENT_VOLUME, emptyDir: { medium: "Memory", sizeLimit: "1Mi" } },
  ];
}
