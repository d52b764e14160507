import type { ValidationRule } from "../schema.js";
import { array, enumOf, integer, object, string, titled, withRules } from "../schema.js";
import {
  ASCII,
  HEADER_NAME_MESSAGE,
  HEADER_NAME_PATTERN,
  IP_MESSAGE,
  METHOD,
  NAMESPACE,
  PATH,
  VALUE,
  VALUE_SYNTAX,
  type ValueSyntax,
} from "./authorization-values.js";
import { conditionColumn, conditionedStatus, skiffCrd, workloadSelector } from "./common.js";

/** A list of values of one syntax (authorization-values.ts decides each). */
const values = (description: string, syntax: ValueSyntax = VALUE) =>
  array(
    `${description} ${VALUE_SYNTAX} Each value has ${syntax.rule}.`,
    string("A value.", { minLength: 1, maxLength: 1024, pattern: syntax.pattern }),
    {
      minItems: 1,
      maxItems: 64,
      "x-kubernetes-list-type": "atomic",
    },
  );

const ipBlock = withRules(string("An IP address or CIDR.", { maxLength: 43 }), {
  rule: "isIP(self) || isCIDR(self)",
  message: IP_MESSAGE,
});

const ipBlocks = (description: string) =>
  array(description, ipBlock, { minItems: 1, maxItems: 64, "x-kubernetes-list-type": "atomic" });

const portValue = withRules(string("A port number, as a string.", { maxLength: 5 }), {
  rule: "self.matches('^[0-9]+$') && int(self) >= 1 && int(self) <= 65535",
  message: "must be a port number from 1 to 65535",
});

const ports = (description: string) =>
  array(description, portValue, { minItems: 1, maxItems: 64, "x-kubernetes-list-type": "atomic" });

const PRINCIPALS_NEED_MTLS = "Needs mTLS: without it the peer has no identity and the field never matches.";
/** Envoy's and Istio's behaviour: a negated identity check holds for a peer that has no identity. */
const NOT_PRINCIPALS_WITHOUT_MTLS =
  "Without mTLS the peer has no identity, so this condition holds: a plaintext request is never excluded by it.";

const notEmpty = (fields: string[], what: string): ValidationRule => ({
  rule: fields.map((f) => `has(self.${f})`).join(" || "),
  message: `${what} must set at least one field`,
});

const SOURCE_FIELDS = [
  "principals",
  "notPrincipals",
  "namespaces",
  "notNamespaces",
  "ipBlocks",
  "notIpBlocks",
];
const source = titled(
  "Source",
  withRules(
    object(
      "The peer that sends the request. All fields given must hold (AND); values in one list are ORed.",
      {
        principals: values(
          `Peer identities, written <trustDomain>/ns/<namespace>/sa/<serviceaccount>. ${PRINCIPALS_NEED_MTLS}`,
          ASCII,
        ),
        notPrincipals: values(`Peer identities that must not match. ${NOT_PRINCIPALS_WITHOUT_MTLS}`, ASCII),
        namespaces: values(`Namespaces of the peer. ${PRINCIPALS_NEED_MTLS}`, NAMESPACE),
        notNamespaces: values(
          `Namespaces the peer must not be in. ${NOT_PRINCIPALS_WITHOUT_MTLS}`,
          NAMESPACE,
        ),
        ipBlocks: ipBlocks("The peer's IP address (the connection's source) is in one of these."),
        notIpBlocks: ipBlocks("The peer's IP address is in none of these."),
      },
    ),
    notEmpty(SOURCE_FIELDS, "a source"),
  ),
);

const OPERATION_FIELDS = [
  "hosts",
  "notHosts",
  "ports",
  "notPorts",
  "methods",
  "notMethods",
  "paths",
  "notPaths",
];
const operation = titled(
  "Operation",
  withRules(
    object("What the request does. All fields given must hold (AND); values in one list are ORed.", {
      hosts: values("The Host or :authority header (case-insensitive).", ASCII),
      notHosts: values("Hosts that must not match.", ASCII),
      ports: ports("The destination (workload) port."),
      notPorts: ports("Destination ports that must not match."),
      methods: values("The HTTP method; for gRPC this is always POST.", METHOD),
      notMethods: values("Methods that must not match.", METHOD),
      paths: values("The request path, without the query string; for gRPC, /package.Service/Method.", PATH),
      notPaths: values("Paths that must not match.", PATH),
    }),
    notEmpty(OPERATION_FIELDS, "an operation"),
  ),
);

/** The `when` keys Skiff can evaluate; see API.md. */
export const CONDITION_KEYS = [
  "request.headers[<name>]",
  "source.ip",
  "remote.ip",
  "source.namespace",
  "source.principal",
  "destination.ip",
  "destination.port",
  "connection.sni",
];

/** What the webhook checks of `when` values, by key (compile/security-issues.ts). */
const CONDITION_VALUES =
  "By key: IP addresses or CIDRs for source.ip, remote.ip and destination.ip; port numbers for destination.port; namespace names for source.namespace; printable ASCII for source.principal and connection.sni.";

const condition = titled(
  "RuleCondition",
  withRules(
    object(
      "An extra condition on a request attribute. It holds when the attribute matches one of values (if given) and none of notValues (if given).",
      {
        key: string(
          `The attribute: one of ${CONDITION_KEYS.join(", ")}. A header name is an HTTP token, or one of the pseudo-headers :authority (also named host), :method and :path.`,
          { minLength: 1, maxLength: 320 },
        ),
        values: values(`Values the attribute must match one of. ${CONDITION_VALUES}`),
        notValues: values(`Values the attribute must not match. ${CONDITION_VALUES}`),
      },
      { required: ["key"] },
    ),
    {
      rule: "has(self.values) || has(self.notValues)",
      message: "a condition needs values or notValues",
    },
    {
      rule: "self.key in ['source.ip', 'remote.ip', 'source.namespace', 'source.principal', 'destination.ip', 'destination.port', 'connection.sni'] || self.key.matches('^request[.]headers\\\\[[^\\\\]]+\\\\]$')",
      message: `key must be one of ${CONDITION_KEYS.join(", ")}`,
      fieldPath: ".key",
    },
    {
      // Only for a well-formed header key (the rule above names any other); 16 is the length of "request.headers[".
      rule: `!self.key.matches('^request[.]headers\\\\[[^\\\\]]+\\\\]$') || self.key.substring(16, size(self.key) - 1).matches("${HEADER_NAME_PATTERN}")`,
      message: HEADER_NAME_MESSAGE,
      fieldPath: ".key",
    },
  ),
);

const rule = titled(
  "Rule",
  object(
    "A rule matches a request when from, to and when all hold (AND). Within from, to and when, one entry matching is enough (OR). An empty rule ({}) matches every request.",
    {
      from: array(
        "Who sends the request: one entry must match. Omitted: any peer.",
        object("A source.", { source }, { required: ["source"] }),
        { minItems: 1, maxItems: 16, "x-kubernetes-list-type": "atomic" },
      ),
      to: array(
        "What the request does: one entry must match. Omitted: any operation.",
        object("An operation.", { operation }, { required: ["operation"] }),
        { minItems: 1, maxItems: 16, "x-kubernetes-list-type": "atomic" },
      ),
      when: array("Extra conditions; all must hold. Omitted: none.", condition, {
        minItems: 1,
        maxItems: 16,
        "x-kubernetes-list-type": "atomic",
      }),
    },
  ),
);

const spec = object(
  "Access control for the selected workloads, with Istio's semantics. DENY policies are checked first and any match denies. Then, if no ALLOW policy selects the workload, the request is allowed; if any does, the request is allowed only when one of them matches. AUDIT policies never decide. An ALLOW policy with no rules selects the workload and matches nothing, so it denies everything; rules: [{}] matches everything.",
  {
    selector: workloadSelector("this policy applies to."),
    action: enumOf(
      "ALLOW: allow matching requests. DENY: deny matching requests; checked before ALLOW. AUDIT: log matching requests without deciding.",
      ["ALLOW", "DENY", "AUDIT"],
      { default: "ALLOW" },
    ),
    rules: array("The rules; the policy matches a request when any rule matches it.", rule, {
      maxItems: 64,
      "x-kubernetes-list-type": "atomic",
    }),
  },
);

export const authorizationPolicyCrd = skiffCrd({
  kind: "AuthorizationPolicy",
  plural: "authorizationpolicies",
  singular: "authorizationpolicy",
  shortNames: ["ap"],
  scope: "Namespaced",
  description:
    "AuthorizationPolicy allows or denies requests to workloads by peer identity, namespace, IP, method, path, port and headers, with exactly Istio's semantics. Each rule is named <namespace>/<name>/<rule-index> in access logs, metrics and `skiff simulate`.",
  spec: { ...spec, default: {} },
  status: conditionedStatus("The observed state of the policy.", {
    workloads: integer("How many workloads this policy selects.", { minimum: 0 }),
  }),
  printerColumns: [
    { name: "Action", type: "string", jsonPath: ".spec.action", description: "ALLOW, DENY or AUDIT." },
    conditionColumn("Accepted"),
    conditionColumn("Programmed"),
  ],
});
