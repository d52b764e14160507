import type { KubernetesObject } from "@kubernetes/client-node";
import { ClusterAccessError } from "../cluster/kubeconfig.js";
import { getObject, type ReadableKind } from "../cluster/read.js";
import { WEBHOOK_CONFIGURATIONS, WEBHOOK_SECRET } from "./installation.js";
import { failed, passed, warned, type CheckResult } from "./result.js";
import { caBundleProblem } from "./webhook-tls.js";
import { readServiceEndpoints, type ServiceEndpoints } from "./workloads.js";

const SECRET: ReadableKind = { group: "", version: "v1", kind: "Secret", plural: "secrets" };

interface ClientConfig {
  url?: string;
  service?: { namespace: string; name: string };
  caBundle?: string;
}

/** The fields of a webhook configuration the checks read. */
export interface WebhookConfiguration extends KubernetesObject {
  webhooks?: { name: string; clientConfig?: ClientConfig }[];
}

export interface WebhookState {
  readonly namespace: string;
  readonly configurations: ReadonlyMap<string, WebhookConfiguration | undefined>;
  /** The serving certificate the operator's replicas serve, or why it could not be read. */
  readonly servingCert: { pem: string } | { missing: true } | { unreadable: string };
  /** Per Service the webhooks call ("namespace/name"). */
  readonly services: ReadonlyMap<string, ServiceEndpoints>;
}

export async function readWebhooks(namespace: string): Promise<WebhookState> {
  const configurations = new Map<string, WebhookConfiguration | undefined>();
  for (const { kind, plural, name } of WEBHOOK_CONFIGURATIONS) {
    const readable = { group: "admissionregistration.k8s.io", version: "v1", kind, plural };
    configurations.set(name, (await getObject(readable, name)) as WebhookConfiguration | undefined);
  }
  const services = new Map<string, ServiceEndpoints>();
  for (const service of calledServices(configurations)) {
    const [ns, name] = service.split("/") as [string, string];
    services.set(service, await readServiceEndpoints(ns, name));
  }
  return { namespace, configurations, servingCert: await readServingCert(namespace), services };
}

async function readServingCert(namespace: string): Promise<WebhookState["servingCert"]> {
  try {
    const secret = (await getObject(SECRET, WEBHOOK_SECRET, namespace)) as
      (KubernetesObject & { data?: Record<string, string> }) | undefined;
    const pem = secret?.data?.["tls.crt"];
    return pem ? { pem: Buffer.from(pem, "base64").toString("utf8") } : { missing: true };
  } catch (error) {
    // A reader without access to Secrets still gets every other check.
    if (error instanceof ClusterAccessError) return { unreadable: error.message };
    throw error;
  }
}

function calledServices(configurations: ReadonlyMap<string, WebhookConfiguration | undefined>): Set<string> {
  const services = new Set<string>();
  for (const configuration of configurations.values())
    for (const webhook of configuration?.webhooks ?? []) {
      const service = webhook.clientConfig?.service;
      if (service) services.add(`${service.namespace}/${service.name}`);
    }
  return services;
}

/** The host the API server dials for a webhook: the Service's DNS name, or the URL's host. */
function hostOf(config: ClientConfig | undefined): string {
  if (config?.service) return `${config.service.name}.${config.service.namespace}.svc`;
  try {
    return new URL(config?.url ?? "").hostname.replace(/^\[|\]$/g, "");
  } catch {
    return "";
  }
}

/**
 * The admission webhooks: both configurations exist, every caBundle in them
 * makes the API server trust the serving certificate the operator serves
 * (from its Secret), and the Services they call have ready endpoints. Pure.
 */
export function webhookChecks(state: WebhookState, now: Date): CheckResult[] {
  const checks: CheckResult[] = [];
  const secretName = `${state.namespace}/${WEBHOOK_SECRET}`;
  for (const [name, configuration] of state.configurations) {
    const exists = `the webhook configuration ${name} exists`;
    if (!configuration) {
      checks.push(
        failed(
          "webhook-configuration",
          exists,
          `there is no webhook configuration ${name}`,
          "install Skiff's webhooks: kubectl apply -k config/default",
        ),
      );
      continue;
    }
    checks.push(passed("webhook-configuration", exists));
    const trusted = `the caBundle of ${name} matches the webhook's serving certificate`;
    if ("missing" in state.servingCert) {
      checks.push(
        failed(
          "webhook-cabundle",
          trusted,
          `the Secret ${secretName} holds no serving certificate (tls.crt)`,
          "the operator creates it when it starts: check that the operator runs, or pass --namespace if it runs in another namespace",
        ),
      );
      continue;
    }
    if ("unreadable" in state.servingCert) {
      checks.push(
        warned(
          "webhook-cabundle",
          trusted,
          `cannot read the serving certificate to compare: ${state.servingCert.unreadable}`,
          `run skiff check as a user who may get the Secret ${secretName}`,
        ),
      );
      continue;
    }
    const servingPem = state.servingCert.pem;
    const problems = (configuration.webhooks ?? []).flatMap((webhook) => {
      const problem = caBundleProblem(
        webhook.clientConfig?.caBundle,
        servingPem,
        hostOf(webhook.clientConfig),
        now,
      );
      return problem ? [`webhook ${webhook.name}: ${problem}`] : [];
    });
    checks.push(
      problems.length > 0
        ? failed(
            "webhook-cabundle",
            trusted,
            problems.join("; "),
            `the API server cannot call the webhook over TLS. The operator sets caBundle from ${secretName} at start and every minute: if it stays wrong, something else writes it (a CA injector, a GitOps tool applying an old value); stop that, or restart the operator (kubectl -n ${state.namespace} rollout restart deployment/skiff-operator)`,
          )
        : passed("webhook-cabundle", trusted),
    );
  }
  for (const [service, endpoints] of state.services) {
    const description = `the webhook Service ${service} has ready endpoints`;
    checks.push(
      !endpoints.serviceExists
        ? failed(
            "webhook-endpoints",
            description,
            `there is no Service ${service}`,
            "install it: kubectl apply -k config/default",
          )
        : endpoints.readyAddresses === 0
          ? failed(
              "webhook-endpoints",
              description,
              "no ready operator Pod backs it: the API server cannot call the webhooks",
              `check the operator's Pods: kubectl -n ${service.split("/")[0]} get pods -l app.kubernetes.io/name=skiff-operator`,
            )
          : passed("webhook-endpoints", description, `${endpoints.readyAddresses} ready`),
    );
  }
  return checks;
}
