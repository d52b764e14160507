import assert from "node:assert/strict";
import { join } from "node:path";
import { pino } from "pino";
import { parse, stringify } from "yaml";
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import { installLocalWebhooks } from "../../src/cli/dev-webhooks.js";
import { repositoryRoot } from "../../src/controlplane/binaries.js";
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";
import { GENERATED_OBJECTS } from "../../src/controllers/mesh/generated.js";
import { PROXY_CONTAINER } from "../../src/inject/sidecar.js";
import { ServerSideApplier } from "../../src/k8s/apply.js";
import { kubeConfigFromYaml } from "../../src/k8s/kubeconfig.js";
import { applyManifests, readManifests } from "../../src/k8s/manifests.js";
import { KubernetesApiError, RestClient } from "../../src/k8s/rest.js";
import { startOperator, type RunningOperator } from "../../src/operator/operator.js";
import { applyMesh, meshConditionStatus, meshControllerIdle } from "../support/operator.js";
import { rootAndIntermediate } from "../support/pki.js";
import { deleteAndAwaitRecreation, type ObjectRef } from "../support/recreation.js";
import { eventually } from "./kubectl.js";

const RBAC = join(repositoryRoot(), "config", "rbac");
const ROOT_NAMESPACE = "skiff-system";
const OPERATOR_USER = `system:serviceaccount:${ROOT_NAMESPACE}:skiff-operator`;
const CLUSTER_SCOPED = new Set(["ClusterRole", "ClusterRoleBinding"]);

interface Rule {
  apiGroups?: string[];
  resources?: string[];
  verbs?: string[];
  nonResourceURLs?: string[];
}

/** The control plane's admin credentials, impersonating the operator's ServiceAccount: every request is authorized as the SA. */
function impersonatingOperator(plane: LocalControlPlane): KubeConfig {
  const doc = parse(plane.kubeconfig) as { users: { user: Record<string, string> }[] };
  doc.users[0]!.user.as = OPERATOR_USER;
  return kubeConfigFromYaml(stringify(doc));
}

const deployment = (namespace: string, name: string) => ({
  apiVersion: "apps/v1",
  kind: "Deployment",
  metadata: { name, namespace },
  spec: {
    selector: { matchLabels: { app: name } },
    template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image: "busybox" }] } },
  },
});

const clusterRoleBinding = (name: string) => ({
  apiVersion: "rbac.authorization.k8s.io/v1",
  kind: "ClusterRoleBinding",
  metadata: { name },
  roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
  subjects: [{ kind: "ServiceAccount", name: "skiff-operator", namespace: ROOT_NAMESPACE }],
});

/** A logged API error that is a refusal: the status code 403 as a word, not digits inside a timestamp. */
const refused = (line: string): boolean => /forbidden|Forbidden|\b403\b/.test(line);

describe("the operator's RBAC (config/rbac)", () => {
  it("uses no wildcard verb, resource or API group", async () => {
    const wildcards: string[] = [];
    for (const obj of await readManifests(RBAC)) {
      for (const [i, rule] of (((obj as { rules?: Rule[] }).rules ?? []) as Rule[]).entries()) {
        for (const field of ["apiGroups", "resources", "verbs", "nonResourceURLs"] as const) {
          if (rule[field]?.some((v) => v.includes("*")))
            wildcards.push(`${obj.metadata!.name} rules[${i}].${field}`);
        }
      }
    }
    assert.deepEqual(wildcards, []);
  });

  describe("run as the operator's ServiceAccount", () => {
    let plane: LocalControlPlane;
    let operator: RunningOperator | undefined;
    const errors: string[] = [];

    before(async () => {
      plane = await LocalControlPlane.start();
      const admin = plane.kubeConfig();
      await new ServerSideApplier(admin, "test").apply({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: ROOT_NAMESPACE },
      } as KubernetesObject);
      await applyManifests(admin, "test", await readManifests(RBAC));
    });
    after(async () => {
      try {
        await operator?.stop();
      } finally {
        await plane?.stop(); // a control plane left running would keep mocha from exiting
      }
    });

    it("is enough for everything the operator does: a Mesh end to end, repairs, webhooks", async () => {
      const logger = pino(
        { level: "warn" },
        {
          write: (line: string) => {
            errors.push(line);
          },
        },
      );
      operator = await startOperator(impersonatingOperator(plane), {
        logger,
        image: "skiff:test",
        httpAddress: "127.0.0.1:0",
        leaderElection: true,
        leaseNamespace: ROOT_NAMESPACE,
        webhook: {
          address: "127.0.0.1:0",
          namespace: ROOT_NAMESPACE,
          secretName: "skiff-webhook-tls",
          hosts: ["127.0.0.1"],
        },
      });
      // Registering the webhooks is the installer's job (config/webhook), not the operator's.
      await installLocalWebhooks(plane.kubeConfig(), operator.webhook!.port, operator.webhook!.caBundle());

      const admin = new ServerSideApplier(plane.kubeConfig(), "test");
      const rest = new RestClient(plane.kubeConfig());
      // A selector of the Mesh's own, so that the operator patches it into the injector's configuration.
      const selector = { matchLabels: { "example.com/mesh": "on" } };
      await admin.apply({
        apiVersion: "v1",
        kind: "Namespace",
        metadata: { name: "books", labels: selector.matchLabels },
      } as KubernetesObject);
      await applyMesh(admin, { injection: { namespaceSelector: selector } });
      await eventually(async () => {
        assert.equal(await meshConditionStatus(rest, "InjectionConfigured"), "True");
        await rest.request("GET", "/api/v1/namespaces/books/configmaps/skiff-trust-bundle");
        const injector = await rest.request<{ webhooks: { namespaceSelector?: unknown }[] }>(
          "GET",
          "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/skiff-sidecar-injector",
        );
        assert.deepEqual(injector.webhooks[0]!.namespaceSelector, selector);
      });

      // Every generated object, deleted, comes back: watched and written under these permissions.
      const generated: ObjectRef[] = GENERATED_OBJECTS.map((o) => ({
        ...o,
        ...(CLUSTER_SCOPED.has(o.kind)
          ? {}
          : { namespace: o.kind === "ConfigMap" ? "books" : ROOT_NAMESPACE }),
      }));
      for (const ref of generated) await deleteAndAwaitRecreation(plane.kubeConfig(), ref, 15_000);

      // The webhooks at work: /validate compiles the policy's namespace, /inject adds the sidecar.
      await admin.apply({
        apiVersion: "skiff.dev/v1alpha1",
        kind: "TrafficPolicy",
        metadata: { name: "reviews", namespace: "books" },
        spec: { targetRef: { name: "reviews" }, loadBalancer: { algorithm: "Random" } },
      } as KubernetesObject);
      const pod = await rest.request<{ spec: { containers: { name: string }[] } }>(
        "POST",
        "/api/v1/namespaces/books/pods",
        {
          body: {
            apiVersion: "v1",
            kind: "Pod",
            metadata: { name: "web" },
            spec: { containers: [{ name: "app", image: "nginx" }] },
          },
        },
      );
      assert.ok(
        pod.spec.containers.some((c) => c.name === PROXY_CONTAINER),
        "the injector added the sidecar",
      );

      // Pruning: a namespace that leaves the mesh loses its ConfigMaps; a deleted Mesh, everything.
      await rest.request("PATCH", "/api/v1/namespaces/books", {
        contentType: "application/merge-patch+json",
        body: { metadata: { labels: { "example.com/mesh": null } } },
      });
      await eventually(async () =>
        assert.equal(
          await rest.getIfExists("/api/v1/namespaces/books/configmaps/skiff-envoy-bootstrap"),
          undefined,
        ),
      );
      await rest.request("DELETE", "/apis/skiff.dev/v1alpha1/meshes/default");
      await eventually(async () =>
        assert.equal(await rest.getIfExists("/apis/skiff.dev/v1alpha1/meshes/default"), undefined),
      );
      assert.equal(
        await rest.getIfExists("/apis/rbac.authorization.k8s.io/v1/clusterroles/skiff-xds"),
        undefined,
      );
      assert.deepEqual(errors.filter(refused), [], "no request was refused");
    });

    it("is enough for a Mesh whose CA comes from cert-manager", async () => {
      // cert-manager's part, played by the test: its Certificate kind, then the Secret it would issue.
      const admin = new ServerSideApplier(plane.kubeConfig(), "test");
      const rest = new RestClient(plane.kubeConfig());
      await admin.apply({
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "CustomResourceDefinition",
        metadata: { name: "certificates.cert-manager.io" },
        spec: {
          group: "cert-manager.io",
          scope: "Namespaced",
          names: { plural: "certificates", singular: "certificate", kind: "Certificate" },
          versions: [
            {
              name: "v1",
              served: true,
              storage: true,
              schema: { openAPIV3Schema: { type: "object", "x-kubernetes-preserve-unknown-fields": true } },
            },
          ],
        },
      } as KubernetesObject);
      await eventually(() =>
        rest.request("GET", `/apis/cert-manager.io/v1/namespaces/${ROOT_NAMESPACE}/certificates`),
      );
      await applyMesh(admin, { certificateAuthority: { certManager: { issuerRef: { name: "mesh-root" } } } });
      await eventually(async () => {
        await rest.request(
          "GET",
          `/apis/cert-manager.io/v1/namespaces/${ROOT_NAMESPACE}/certificates/skiff-ca-intermediate`,
        );
        const mesh = await rest.request<{ status?: { conditions?: { type: string; reason: string }[] } }>(
          "GET",
          "/apis/skiff.dev/v1alpha1/meshes/default",
        );
        const ca = mesh.status?.conditions?.find((c) => c.type === "CertificateAuthorityReady");
        assert.equal(ca?.reason, "CertificatePending");
      });
      // Issued once the operator has seen it missing and gone idle: only a watch on the Secret brings the
      // Mesh to Ready before the 10-minute requeue.
      await meshControllerIdle();
      const { rootPem, signer } = await rootAndIntermediate(new Date());
      await rest.request("POST", `/api/v1/namespaces/${ROOT_NAMESPACE}/secrets`, {
        body: {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: "skiff-ca-intermediate" },
          stringData: { "tls.crt": signer.certPem, "tls.key": signer.keyPem, "ca.crt": rootPem },
        },
      });
      await eventually(
        async () => assert.equal(await meshConditionStatus(rest, "CertificateAuthorityReady"), "True"),
        15_000,
      );
      await rest.request("DELETE", "/apis/skiff.dev/v1alpha1/meshes/default");
      await eventually(async () =>
        assert.equal(await rest.getIfExists("/apis/skiff.dev/v1alpha1/meshes/default"), undefined),
      );
      assert.deepEqual(errors.filter(refused), [], "no request was refused");
    });

    it("refuses what the operator does not own", async () => {
      const admin = new RestClient(plane.kubeConfig());
      await admin.request("POST", "/api/v1/namespaces/default/secrets", {
        body: { apiVersion: "v1", kind: "Secret", metadata: { name: "db-password" }, stringData: { p: "x" } },
      });
      const asOperator = new RestClient(impersonatingOperator(plane));
      const applyAsOperator = (obj: object) =>
        new ServerSideApplier(impersonatingOperator(plane), "skiff/mesh").apply(obj as KubernetesObject);
      const attempts: Record<string, () => Promise<unknown>> = {
        "create a Deployment in kube-system": () =>
          asOperator.request("POST", "/apis/apps/v1/namespaces/kube-system/deployments", {
            body: deployment("kube-system", "miner"),
          }),
        "apply the xDS Deployment's name in kube-system": () =>
          applyAsOperator(deployment("kube-system", "skiff-xds")),
        "read an arbitrary Secret": () =>
          asOperator.request("GET", "/api/v1/namespaces/default/secrets/db-password"),
        "list Secrets in a namespace": () => asOperator.request("GET", "/api/v1/namespaces/default/secrets"),
        "list Secrets cluster-wide": () => asOperator.request("GET", "/api/v1/secrets"),
        "delete the mesh CA": () =>
          asOperator.request("DELETE", `/api/v1/namespaces/${ROOT_NAMESPACE}/secrets/skiff-ca`),
        "create an arbitrary ClusterRoleBinding": () =>
          asOperator.request("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
            body: clusterRoleBinding("take-over"),
          }),
        "apply an arbitrary ClusterRoleBinding": () => applyAsOperator(clusterRoleBinding("take-over")),
        "patch an arbitrary ClusterRole": () =>
          asOperator.request("PATCH", "/apis/rbac.authorization.k8s.io/v1/clusterroles/view", {
            contentType: "application/merge-patch+json",
            body: { metadata: { labels: { x: "y" } } },
          }),
        "create a ConfigMap in kube-system": () =>
          asOperator.request("POST", "/api/v1/namespaces/kube-system/configmaps", {
            body: { apiVersion: "v1", kind: "ConfigMap", metadata: { name: "x" } },
          }),
        "list ConfigMaps cluster-wide": () => asOperator.request("GET", "/api/v1/configmaps"),
        "create a Service in kube-system": () =>
          asOperator.request("POST", "/api/v1/namespaces/kube-system/services", {
            body: {
              apiVersion: "v1",
              kind: "Service",
              metadata: { name: "x" },
              spec: { ports: [{ port: 80 }] },
            },
          }),
        "create a ServiceAccount in kube-system": () =>
          asOperator.request("POST", "/api/v1/namespaces/kube-system/serviceaccounts", {
            body: { apiVersion: "v1", kind: "ServiceAccount", metadata: { name: "x" } },
          }),
        "relabel kube-system": () =>
          asOperator.request("PATCH", "/api/v1/namespaces/kube-system", {
            contentType: "application/merge-patch+json",
            body: { metadata: { labels: { "pod-security.kubernetes.io/enforce": "privileged" } } },
          }),
        "take a Lease in kube-system": () =>
          asOperator.request("POST", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases", {
            body: {
              apiVersion: "coordination.k8s.io/v1",
              kind: "Lease",
              metadata: { name: "kube-scheduler" },
            },
          }),
        "list webhook configurations": () =>
          asOperator.request("GET", "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations"),
      };
      const allowed: string[] = [];
      for (const [what, attempt] of Object.entries(attempts)) {
        try {
          await attempt();
          allowed.push(what);
        } catch (error) {
          if (!(error instanceof KubernetesApiError) || error.statusCode !== 403) throw error;
        }
      }
      assert.deepEqual(allowed, [], "each of these must be refused (403)");
    });
  });
});
