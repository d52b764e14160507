import {
  array,
  boolean,
  duration,
  enumOf,
  integer,
  object,
  percent,
  port,
  string,
  withRules,
  titled,
} from "../schema.js";
import {
  conditionColumn,
  conditionedStatus,
  labelSelector,
  resourceRequirements,
  skiffCrd,
} from "./common.js";
import { INJECTION_LABEL } from "../../mesh/annotations.js";
import { DEFAULT_PROMETHEUS_PORT } from "../../mesh/proxy.js";
import { MESH_DEFAULTS } from "../../mesh/defaults.js";
import { EGRESS_HOST_MAX_LENGTH, EGRESS_HOST_PATTERN, WHOLE_MESH_EGRESS } from "../../mesh/egress-hosts.js";

const builtinCa = titled(
  "BuiltinCertificateAuthority",
  withRules(
    object(
      "Skiff's own certificate authority. The operator creates an ECDSA P-256 root once and keeps it in the Secret skiff-ca in the root namespace, and never replaces it. If that Secret is lost after the Mesh recorded its root (status.certificateAuthority), the Mesh reports CertificateAuthorityReady=False with reason CASecretMissing and makes no new root until the annotation skiff.dev/regenerate-ca on the Mesh names the lost root's fingerprint; the new root is then trusted beside the lost one for a minute before it signs.",
      {
        rootValidity: duration(
          "How long the root certificate is valid.",
          { min: "1h", max: "876000h" },
          { default: MESH_DEFAULTS.rootValidity },
        ),
        // The renewal timer (80% of this) must fit Node's setTimeout, 2^31 ms (about 24.8 days):
        // a longer delay fires at once, and renewal would then spin.
        workloadValidity: duration(
          "How long each workload certificate is valid. Certificates are renewed at 80% of this.",
          { min: "1h", max: "720h" },
          { default: MESH_DEFAULTS.workloadValidity },
        ),
      },
    ),
    {
      rule: "!has(self.rootValidity) || !has(self.workloadValidity) || duration(self.workloadValidity) < duration(self.rootValidity)",
      message: "workloadValidity must be shorter than rootValidity",
      fieldPath: ".workloadValidity",
    },
  ),
);

const certManagerCa = titled(
  "CertManagerCertificateAuthority",
  object(
    "Use cert-manager: the operator requests an intermediate CA Certificate from this issuer and signs workload certificates with it.",
    {
      issuerRef: object(
        "The cert-manager issuer that signs the mesh's intermediate CA.",
        {
          name: string("Name of the Issuer or ClusterIssuer.", { minLength: 1, maxLength: 253 }),
          kind: enumOf("Issuer (in the root namespace) or ClusterIssuer.", ["Issuer", "ClusterIssuer"], {
            default: "Issuer",
          }),
          group: string("API group of the issuer.", { default: "cert-manager.io", maxLength: 253 }),
        },
        { required: ["name"] },
      ),
    },
    { required: ["issuerRef"] },
  ),
);

const certificateAuthority = titled(
  "CertificateAuthority",
  withRules(
    object(
      "Where workload certificates come from. Set exactly one of builtin or certManager; the default is the builtin CA.",
      { builtin: builtinCa, certManager: certManagerCa },
      { default: { builtin: {} } },
    ),
    {
      rule: "has(self.builtin) != has(self.certManager)",
      message: "exactly one of builtin or certManager must be set",
    },
  ),
);

/** A port number from 1 to 65535, as a regular expression: a pattern cannot compare numbers. */
const PORT_NUMBER = "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])";

/** Empty, or host:port with a DNS name or IPv4 address, as the sidecar bootstrap's tracing cluster takes it. */
const OTLP_ENDPOINT_PATTERN = `^$|^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?:${PORT_NUMBER}$`;

const portList = (description: string) =>
  array(description, port("A port number."), { maxItems: 64, "x-kubernetes-list-type": "set" });

/** The namespaces a Mesh injects into when it names none. */
export const DEFAULT_INJECTION_SELECTOR = { matchLabels: { [INJECTION_LABEL]: "enabled" } };

const injection = titled(
  "Injection",
  object(
    "How sidecars are injected into Pods and how their traffic is intercepted.",
    {
      namespaceSelector: labelSelector(
        'Namespaces whose new Pods get a sidecar. The default selects namespaces labelled skiff.dev/injection=enabled. A Pod can opt out with the annotation sidecar.skiff.dev/inject: "false".',
        DEFAULT_INJECTION_SELECTOR,
      ),
      proxy: object(
        "The Envoy sidecar container.",
        {
          image: string(
            "The sidecar image: skiff agent, which starts Envoy and serves it its configuration and certificate, and Envoy. Default: the proxy image of the operator's release (the operator's image repository with -proxy, same tag), which carries the Envoy release the tests validate with.",
            { maxLength: 512 },
          ),
          resources: resourceRequirements("the sidecar container"),
          logLevel: enumOf(
            "Envoy's log level.",
            ["trace", "debug", "info", "warning", "error", "critical", "off"],
            { default: "warning" },
          ),
          concurrency: integer("Envoy worker threads. 0 means one per CPU the container may use.", {
            minimum: 0,
            maximum: 64,
            default: 2,
          }),
        },
        { default: {} },
      ),
      interception: object(
        "Traffic redirection, set up with iptables by the skiff-init container. Pod annotations can add to these lists.",
        {
          excludeInboundPorts: portList("Inbound ports that bypass the sidecar."),
          excludeOutboundPorts: portList("Outbound destination ports that bypass the sidecar."),
          excludeOutboundCIDRs: array(
            "Outbound destination ranges that bypass the sidecar, such as 169.254.169.254/32.",
            withRules(string("An IPv4 or IPv6 CIDR.", { maxLength: 43 }), {
              rule: "isCIDR(self)",
              message: "must be a CIDR such as 10.0.0.0/8 or fd00::/8",
            }),
            { maxItems: 64, "x-kubernetes-list-type": "set" },
          ),
        },
        { default: {} },
      ),
    },
    { default: {} },
  ),
);

const spec = object("The desired mesh.", {
  trustDomain: string(
    "The SPIFFE trust domain. Workload identities are spiffe://<trustDomain>/ns/<namespace>/sa/<serviceaccount>, and authorization principals are written <trustDomain>/ns/<namespace>/sa/<serviceaccount>.",
    {
      default: MESH_DEFAULTS.trustDomain,
      maxLength: 253,
      pattern: "^[a-z0-9]([-a-z0-9._]*[a-z0-9])?$",
    },
  ),
  rootNamespace: string(
    "The namespace where the control plane runs. PeerAuthentication and AuthorizationPolicy objects here apply to the whole mesh.",
    { default: MESH_DEFAULTS.rootNamespace, maxLength: 63, pattern: "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$" },
  ),
  controlPlane: object(
    "The xDS server Deployment that the operator generates.",
    {
      replicas: integer("Number of xDS server replicas.", {
        minimum: 1,
        maximum: 100,
        default: MESH_DEFAULTS.controlPlaneReplicas,
      }),
      image: string("The xDS server image. Empty means the operator's own image.", { maxLength: 512 }),
      resources: resourceRequirements("each xDS server replica"),
    },
    { default: {} },
  ),
  certificateAuthority,
  injection,
  defaults: object(
    "Mesh-wide defaults that policies override.",
    {
      mtlsMode: enumOf(
        "The mTLS mode where no PeerAuthentication decides. PERMISSIVE accepts both mTLS and plaintext, STRICT accepts only mTLS, DISABLE accepts only plaintext.",
        ["DISABLE", "PERMISSIVE", "STRICT"],
        { default: MESH_DEFAULTS.mtlsMode },
      ),
      egressHosts: array(
        'The Services every sidecar is configured for, where its Pod has no annotation sidecar.skiff.dev/egressHosts, as the hosts of an Istio Sidecar\'s egress: <namespace>/<dnsName>, where namespace is a namespace, "." (the workload\'s own), "*" (every namespace) or "~" (none), and dnsName is "*" (every Service there), a Service\'s hostname such as reviews.bookinfo.svc.cluster.local, or "*." and a suffix. The default, */*, is the whole mesh: a workload can call any Service, even one it never called before. A narrower scope makes each sidecar smaller; a call to a Service outside it leaves the sidecar as plain TCP to the address dialled (passthrough), without the Service\'s TrafficPolicy or mTLS.',
        string("One host, <namespace>/<dnsName>.", {
          maxLength: EGRESS_HOST_MAX_LENGTH,
          pattern: EGRESS_HOST_PATTERN,
        }),
        { maxItems: 256, "x-kubernetes-list-type": "set", default: [WHOLE_MESH_EGRESS], minItems: 1 },
      ),
    },
    { default: {} },
  ),
  observability: object(
    "Telemetry produced by the sidecars.",
    {
      accessLog: object(
        "Envoy access logs, written to the sidecar's stdout.",
        {
          enabled: boolean("Whether sidecars write access logs.", { default: true }),
          format: enumOf("JSON (one object per line) or TEXT (Envoy's default format).", ["JSON", "TEXT"], {
            default: "JSON",
          }),
        },
        { default: {} },
      ),
      tracing: object(
        "Distributed tracing with OpenTelemetry.",
        {
          otlpEndpoint: string(
            "The OTLP/gRPC collector as host:port, where host is a DNS name or an IPv4 address and port is from 1 to 65535, such as otel-collector.observability:4317. Empty turns tracing off.",
            { maxLength: 512, pattern: OTLP_ENDPOINT_PATTERN },
          ),
          samplingPercent: percent("The share of requests traced.", { default: 1 }),
        },
        { default: {} },
      ),
      metrics: object(
        "Prometheus metrics.",
        {
          prometheusPort: port("The sidecar port that serves Prometheus metrics.", {
            default: DEFAULT_PROMETHEUS_PORT,
          }),
        },
        { default: {} },
      ),
    },
    { default: {} },
  ),
});

const status = conditionedStatus("The observed state of the mesh.", {
  certificateAuthority: object(
    "The CA that signs workload certificates: the builtin root, or cert-manager's intermediate. While the CA cannot sign, this keeps the last one that could, so that a lost root is known as lost.",
    {
      notAfter: string("When the CA certificate expires.", { format: "date-time" }),
      fingerprintSHA256: string("SHA-256 fingerprint of the CA certificate, hex with colons.", {
        maxLength: 128,
      }),
    },
  ),
  controlPlane: object("The xDS server.", {
    readyReplicas: integer("Replicas of the xDS server that are ready.", { minimum: 0 }),
    xdsAddress: string("The address sidecars connect to, as host:port.", { maxLength: 512 }),
  }),
  meshedNamespaces: integer("How many namespaces the injection selector matches.", { minimum: 0 }),
  connectedProxies: integer(
    "How many proxies (Envoy sidecars and proxyless gRPC applications, each once) are connected to the xDS server that writes status (the holder of the skiff-xds-status Lease); with several replicas, its own proxies only. Written by the xDS server, not the operator.",
    { minimum: 0 },
  ),
});

export const meshCrd = skiffCrd({
  kind: "Mesh",
  plural: "meshes",
  singular: "mesh",
  shortNames: ["mesh"],
  scope: "Cluster",
  description:
    "Mesh is the cluster-wide configuration of Skiff: trust domain, certificate authority, control plane, sidecar injection and telemetry. There is normally one, named default.",
  spec: { ...spec, default: {} },
  status,
  printerColumns: [
    {
      name: "Trust Domain",
      type: "string",
      jsonPath: ".spec.trustDomain",
      description: "The SPIFFE trust domain.",
    },
    {
      name: "Proxies",
      type: "integer",
      jsonPath: ".status.connectedProxies",
      description: "Proxies connected to the xDS server.",
    },
    conditionColumn("Ready"),
  ],
});
