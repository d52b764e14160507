import { KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";

export interface ClientCertificateCredentials {
  server: string;
  caPem: string;
  certPem: string;
  keyPem: string;
  /** Names the cluster, user and context alike. */
  name: string;
  /** The name to verify the server's certificate against, when `server` is an address it does not carry. */
  tlsServerName?: string;
}

const b64 = (s: string) => Buffer.from(s).toString("base64");

/** A self-contained kubeconfig (certificates embedded), as kubectl reads it. */
export function kubeconfigYaml(c: ClientCertificateCredentials): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: c.name,
        cluster: {
          server: c.server,
          "certificate-authority-data": b64(c.caPem),
          ...(c.tlsServerName ? { "tls-server-name": c.tlsServerName } : {}),
        },
      },
    ],
    users: [
      { name: c.name, user: { "client-certificate-data": b64(c.certPem), "client-key-data": b64(c.keyPem) } },
    ],
    contexts: [{ name: c.name, context: { cluster: c.name, user: c.name } }],
    "current-context": c.name,
  });
}

export function kubeConfigFromYaml(yaml: string): KubeConfig {
  const kc = new KubeConfig();
  kc.loadFromString(yaml);
  return kc;
}

/**
 * The client configuration, as kubectl and controller-runtime find it: an
 * explicit path, else $KUBECONFIG, else ~/.kube/config, else the in-cluster
 * ServiceAccount.
 */
export function loadKubeConfig(path?: string): KubeConfig {
  const kc = new KubeConfig();
  if (path) kc.loadFromFile(path);
  else kc.loadFromDefault();
  if (!kc.getCurrentCluster()) throw new Error("no Kubernetes cluster configured (kubeconfig or in-cluster)");
  return kc;
}
