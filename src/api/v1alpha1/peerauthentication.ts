import { enumOf, integer, map, object, withRules } from "../schema.js";
import { conditionColumn, conditionedStatus, portNumberKey, skiffCrd, workloadSelector } from "./common.js";

export const MTLS_MODES = ["UNSET", "DISABLE", "PERMISSIVE", "STRICT"] as const;

const mtls = (scope: string) =>
  object(`The mutual TLS setting ${scope}.`, {
    mode: enumOf(
      "UNSET inherits from the parent level (namespace, then the root namespace, then Mesh.spec.defaults.mtlsMode). DISABLE accepts plaintext only. PERMISSIVE accepts both mTLS and plaintext. STRICT accepts only mTLS with a client certificate from the mesh.",
      MTLS_MODES,
      { default: "UNSET" },
    ),
  });

const spec = withRules(
  object(
    "Which mTLS mode the selected workloads accept. Precedence: a policy with a selector overrides the namespace-wide policy (no selector), which overrides the root namespace's policy; UNSET inherits. Clients follow automatically: a client uses mTLS toward any workload that accepts it.",
    {
      selector: workloadSelector("this policy applies to."),
      mtls: mtls("for every port of the selected workloads"),
      portLevelMtls: withRules(
        map(
          "Per-port overrides, keyed by the workload's container (target) port number, not the Service port. Needs a selector.",
          mtls("for this port"),
          { maxProperties: 64 },
        ),
        ...(portNumberKey ?? []),
      ),
    },
  ),
  {
    rule: "!has(self.portLevelMtls) || has(self.selector)",
    message: "portLevelMtls requires a selector",
    fieldPath: ".portLevelMtls",
  },
);

export const peerAuthenticationCrd = skiffCrd({
  kind: "PeerAuthentication",
  plural: "peerauthentications",
  singular: "peerauthentication",
  shortNames: ["pa"],
  scope: "Namespaced",
  description:
    "PeerAuthentication sets whether workloads accept mutual TLS: STRICT, PERMISSIVE or DISABLE, per workload, namespace or mesh, with per-port overrides. The semantics are Istio's.",
  spec,
  status: conditionedStatus("The observed state of the policy.", {
    workloads: integer("How many workloads this policy decides the mode for.", { minimum: 0 }),
  }),
  printerColumns: [
    {
      name: "Mode",
      type: "string",
      jsonPath: ".spec.mtls.mode",
      description: "The workload-wide mTLS mode.",
    },
    conditionColumn("Accepted"),
    conditionColumn("Programmed"),
  ],
});
