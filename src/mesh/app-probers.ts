/**
 * The contract between the injector and the sidecar agent for probes under
 * mTLS (Istio's ISTIO_KUBE_APP_PROBERS): the injector rewrites an
 * application container's HTTP and TCP probes to an HTTP GET of
 * `/app-health/<container>/<kind>` on the agent's AGENT_HEALTH_PORT, and
 * hands the original probes to the agent, keyed by that path, as JSON in the
 * sidecar's environment variable APP_PROBERS_ENV. Named ports are resolved
 * by the injector, which sees the container's ports; the agent does not.
 */

export const APP_PROBERS_ENV = "SKIFF_APP_PROBERS";

/** Which of a container's probes a path stands for, as Istio names them. */
export type AppProbeKind = "readyz" | "livez" | "startupz";

/** The agent's path for a container's probe. Container names are DNS labels, so no escaping is needed. */
export function appHealthPath(container: string, kind: AppProbeKind): string {
  return `/app-health/${container}/${kind}`;
}

/** One original probe, as the agent makes it against the Pod's loopback. */
export interface AppProber {
  readonly httpGet?: {
    readonly path: string;
    readonly port: number;
    readonly scheme: "HTTP" | "HTTPS";
    readonly httpHeaders?: readonly { readonly name: string; readonly value: string }[];
  };
  readonly tcpSocket?: { readonly port: number };
  /** The probe's own timeout (the kubelet's default is 1). */
  readonly timeoutSeconds: number;
}

/** The value of APP_PROBERS_ENV, parsed: prober by path. */
export type AppProbers = Readonly<Record<string, AppProber>>;
