/**
 * The security model: PeerAuthentication and AuthorizationPolicy as plain
 * data, with no Kubernetes and no Envoy types. `compile` builds it from the
 * API objects; `src/policy` evaluates it and `translate` turns it into Envoy
 * TLS settings and RBAC filters. The semantics are Istio's; where a field's
 * meaning depends on Istio's behaviour, its TSDoc says which.
 */
import type { PolicySource } from "./source.js";

/** A PeerAuthentication mode as written; UNSET inherits from the level above. */
export type MtlsMode = "UNSET" | "DISABLE" | "PERMISSIVE" | "STRICT";

/** What a workload port finally accepts: DISABLE plaintext only, PERMISSIVE both, STRICT mTLS only. */
export type EffectiveMtlsMode = Exclude<MtlsMode, "UNSET">;

/** Labels, as a plain map. */
export type Labels = Readonly<Record<string, string>>;

/**
 * Which workloads a policy applies to, decided by its namespace and selector.
 *
 * - `Mesh`: no selector, in the Mesh's root namespace: every workload of the mesh.
 * - `Namespace`: no selector, in any other namespace: every workload of that namespace.
 * - `Workload`: a selector. In an ordinary namespace it selects that namespace's
 *   workloads whose labels include `matchLabels`. In the root namespace the two
 *   kinds differ, as in Istio: an AuthorizationPolicy's selector matches
 *   workloads in every namespace, while a PeerAuthentication with a selector in
 *   the root namespace is ignored.
 */
export type PolicyScope =
  | { readonly kind: "Mesh" }
  | { readonly kind: "Namespace" }
  | {
      readonly kind: "Workload";
      /** A workload is selected when its labels include every one of these. Never empty. */
      readonly matchLabels: Labels;
    };

// --- PeerAuthentication ------------------------------------------------------

export interface PeerAuthenticationModel {
  /** The object this model came from. */
  readonly source: PolicySource;
  /**
   * metadata.creationTimestamp (RFC 3339). When several policies tie at one
   * level for a workload, the oldest wins and the name breaks ties.
   */
  readonly created: string;
  /** Where the policy applies. */
  readonly scope: PolicyScope;
  /** The mode for every port of the selected workloads. */
  readonly mode: MtlsMode;
  /**
   * Per-port overrides, keyed by the workload's container (target) port number
   * in decimal. Only honoured for `Workload` scope, as Istio does; UNSET here
   * inherits the policy's own effective mode.
   */
  readonly portLevel: Readonly<Record<string, MtlsMode>>;
}

// --- AuthorizationPolicy -----------------------------------------------------

/** ALLOW and DENY decide; AUDIT only marks matching requests. CUSTOM is not supported. */
export type AuthorizationAction = "ALLOW" | "DENY" | "AUDIT";

export interface AuthorizationPolicyModel {
  /** The object this model came from; attribution names it `namespace/name`. */
  readonly source: PolicySource;
  /** What a match does. */
  readonly action: AuthorizationAction;
  /** Where the policy applies. */
  readonly scope: PolicyScope;
  /** The rules; see {@link AuthorizationRules}. */
  readonly rules: AuthorizationRules;
}

/**
 * A policy's rules. An absent or empty `rules` list is distinct from
 * `rules: [{}]`: the first never matches (so an ALLOW policy without rules
 * denies everything it applies to), the second matches every request.
 */
export type AuthorizationRules =
  | { readonly kind: "MatchNothing" }
  | {
      readonly kind: "Rules";
      /** In the order written; never empty. */
      readonly rules: readonly AuthorizationRuleModel[];
    };

/** A rule matches when one `from` entry, one `to` entry and every `when` condition match. */
export interface AuthorizationRuleModel {
  /** The rule's index in spec.rules; attribution names it `namespace/name/index`. */
  readonly index: number;
  /** Sources, ORed; empty means any source. */
  readonly from: readonly SourceModel[];
  /** Operations, ORed; empty means any operation. */
  readonly to: readonly OperationModel[];
  /** Conditions, ANDed; empty means none. */
  readonly when: readonly ConditionModel[];
}

/**
 * A string value pattern, as Istio writes them.
 *
 * - `Exact`: `abc` matches `abc`.
 * - `Prefix`: `abc*` matches `abc` and `abcd`.
 * - `Suffix`: `*abc` matches `abc` and `xabc`.
 * - `Present`: `*` matches any non-empty value. For headers, hosts and
 *   methods Istio writes it as Envoy's `present_match`, which also matches a
 *   present but empty value.
 */
export type ValuePattern =
  | { readonly kind: "Exact"; readonly value: string }
  | { readonly kind: "Prefix"; readonly prefix: string }
  | { readonly kind: "Suffix"; readonly suffix: string }
  | { readonly kind: "Present" };

/** An IPv4 or IPv6 range; a single address has the full prefix length (32 or 128). */
export interface CidrModel {
  /** The address as written, without the prefix length. */
  readonly address: string;
  /** The prefix length in bits. */
  readonly prefixLength: number;
}

/**
 * Who sends the request. Set fields are ANDed; the values of one field are
 * ORed; a `not*` field holds when none of its values match. Undefined fields
 * are not checked.
 *
 * Principals and namespaces come from the peer's mTLS certificate. A
 * plaintext request has neither: `principals` and `namespaces` never match
 * it, and `notPrincipals` and `notNamespaces` always do (Envoy RBAC negates an
 * `authenticated` matcher that failed for lack of a certificate; Istio's
 * ISTIO-SECURITY-2021-004 bulletin describes exactly this case).
 */
export interface SourceModel {
  /** Peer identities, `<trustDomain>/ns/<namespace>/sa/<serviceaccount>`. */
  readonly principals?: readonly ValuePattern[];
  /** Peer identities that must not match. */
  readonly notPrincipals?: readonly ValuePattern[];
  /** The peer's namespace, taken from its identity. */
  readonly namespaces?: readonly ValuePattern[];
  /** Namespaces the peer must not be in. */
  readonly notNamespaces?: readonly ValuePattern[];
  /** The connection's source address (Envoy's direct_remote_ip) is in one of these. */
  readonly ipBlocks?: readonly CidrModel[];
  /** The connection's source address is in none of these. */
  readonly notIpBlocks?: readonly CidrModel[];
}

/**
 * What the request does. Set fields are ANDed; the values of one field are
 * ORed; a `not*` field holds when none of its values match. `hosts`,
 * `methods` and `paths` (and their negations) are HTTP-only: on TCP traffic an
 * ALLOW rule that uses them never matches, and a DENY or AUDIT rule ignores
 * them, as Istio generates them.
 */
export interface OperationModel {
  /** The :authority (Host) header, compared case-insensitively and port included, as Istio does. */
  readonly hosts?: readonly ValuePattern[];
  /** Hosts that must not match. */
  readonly notHosts?: readonly ValuePattern[];
  /** The destination port: the workload's (container) port. */
  readonly ports?: readonly number[];
  /** Destination ports that must not match. */
  readonly notPorts?: readonly number[];
  /** The HTTP method, case-sensitive. */
  readonly methods?: readonly ValuePattern[];
  /** Methods that must not match. */
  readonly notMethods?: readonly ValuePattern[];
  /** The request path without its query string, case-sensitive. */
  readonly paths?: readonly ValuePattern[];
  /** Paths that must not match. */
  readonly notPaths?: readonly ValuePattern[];
}

/**
 * A `when` condition: it holds when the attribute matches one of `values`
 * (if set) and none of `notValues` (if set). An absent attribute matches no
 * value, so a condition with only `notValues` holds for it.
 */
export type ConditionModel =
  | {
      /** `request.headers[<name>]`; HTTP-only. */
      readonly kind: "RequestHeader";
      /** The header name, lower-cased. */
      readonly name: string;
      readonly values?: readonly ValuePattern[];
      readonly notValues?: readonly ValuePattern[];
    }
  | {
      /**
       * `source.ip` (the connection's source, Envoy's direct_remote_ip),
       * `remote.ip` (the original client, which is the same without trusted
       * proxies) or `destination.ip`.
       */
      readonly kind: "SourceIp" | "RemoteIp" | "DestinationIp";
      readonly values?: readonly CidrModel[];
      readonly notValues?: readonly CidrModel[];
    }
  | {
      /** `source.namespace` and `source.principal` need mTLS; `connection.sni` is the TLS server name. */
      readonly kind: "SourceNamespace" | "SourcePrincipal" | "ConnectionSni";
      readonly values?: readonly ValuePattern[];
      readonly notValues?: readonly ValuePattern[];
    }
  | {
      /** `destination.port`. */
      readonly kind: "DestinationPort";
      readonly values?: readonly number[];
      readonly notValues?: readonly number[];
    };

// --- The whole ---------------------------------------------------------------

/** Everything the security evaluator and translate need, for the whole mesh. */
export interface SecurityModel {
  /** The SPIFFE trust domain; principals are `<trustDomain>/ns/<ns>/sa/<sa>`. */
  readonly trustDomain: string;
  /** Policies without a selector here apply to the whole mesh. */
  readonly rootNamespace: string;
  /** The mode where no PeerAuthentication decides (Mesh.spec.defaults.mtlsMode). */
  readonly defaultMtlsMode: EffectiveMtlsMode;
  /** Valid PeerAuthentications, sorted by namespace then name; conflicting ones included. */
  readonly peerAuthentications: readonly PeerAuthenticationModel[];
  /** Valid AuthorizationPolicies, sorted by namespace then name. */
  readonly authorizationPolicies: readonly AuthorizationPolicyModel[];
}
