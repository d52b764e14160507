import { IP_MESSAGE } from "../api/v1alpha1/authorization-values.js";
import { CONDITION_KEYS } from "../api/v1alpha1/authorizationpolicy.js";
import type { AuthorizationPolicy } from "../api/v1alpha1/generated/authorizationpolicy.js";
import type { PeerAuthentication } from "../api/v1alpha1/generated/peerauthentication.js";
import type { ValidationIssue } from "../api/v1alpha1/validate.js";
import { selectorProblems, type LabelSelector } from "../k8s/selector.js";
import { authorizationValueIssues } from "./authorization-value-issues.js";
import { CONDITION_KINDS, HEADER_KEY, parseIpBlock, parsePort } from "./security-models.js";

/**
 * What admission refuses beyond the schema that offline validation (Ajv)
 * checks: the CRD's CEL rules, and the validating webhook's checks. Fields
 * are named as the API server names them.
 */
export function securityIssues(obj: { kind?: string }): ValidationIssue[] {
  if (obj.kind === "AuthorizationPolicy")
    return authorizationPolicyAdmissionIssues(obj as AuthorizationPolicy);
  if (obj.kind === "PeerAuthentication") return peerAuthenticationIssues(obj as PeerAuthentication);
  return [];
}

const PORT_MESSAGE = "must be a port number from 1 to 65535";

/**
 * Everything admission refuses in an AuthorizationPolicy beyond its schema's
 * patterns: what compile cannot model (authorizationPolicyIssues) and the
 * values it can model but admission refuses (authorizationValueIssues).
 */
export function authorizationPolicyAdmissionIssues(ap: AuthorizationPolicy): ValidationIssue[] {
  return [...authorizationPolicyIssues(ap), ...authorizationValueIssues(ap)];
}

/**
 * What compile cannot model, so that it leaves the policy out as Invalid:
 * a missing part, an address that is no address, a port that is no port,
 * an unknown `when` key.
 */
export function authorizationPolicyIssues(ap: AuthorizationPolicy): ValidationIssue[] {
  const issues = selectorIssues(ap.spec?.selector);
  const each = (values: string[] | undefined, field: string, ok: (v: string) => boolean, message: string) =>
    values?.forEach((v, i) => {
      if (!ok(v)) issues.push({ field: `${field}[${i}]`, message });
    });
  const isCidr = (v: string) => parseIpBlock(v) !== undefined;
  const isPort = (v: string) => parsePort(v) !== undefined;

  (ap.spec?.rules ?? []).forEach((rule, r) => {
    const at = `spec.rules[${r}]`;
    (rule.from ?? []).forEach(({ source }, f) => {
      const field = `${at}.from[${f}].source`;
      if (Object.values(source ?? {}).every((v) => v === undefined))
        issues.push({ field, message: "a source must set at least one field" });
      each(source?.ipBlocks, `${field}.ipBlocks`, isCidr, IP_MESSAGE);
      each(source?.notIpBlocks, `${field}.notIpBlocks`, isCidr, IP_MESSAGE);
    });
    (rule.to ?? []).forEach(({ operation }, t) => {
      const field = `${at}.to[${t}].operation`;
      if (Object.values(operation ?? {}).every((v) => v === undefined))
        issues.push({ field, message: "an operation must set at least one field" });
      each(operation?.ports, `${field}.ports`, isPort, PORT_MESSAGE);
      each(operation?.notPorts, `${field}.notPorts`, isPort, PORT_MESSAGE);
    });
    (rule.when ?? []).forEach((condition, w) => {
      const field = `${at}.when[${w}]`;
      if (condition.values === undefined && condition.notValues === undefined)
        issues.push({ field, message: "a condition needs values or notValues" });
      const kind = HEADER_KEY.test(condition.key) ? "RequestHeader" : CONDITION_KINDS[condition.key];
      if (kind === undefined) {
        issues.push({ field: `${field}.key`, message: `key must be one of ${CONDITION_KEYS.join(", ")}` });
      } else if (kind === "SourceIp" || kind === "RemoteIp" || kind === "DestinationIp") {
        each(condition.values, `${field}.values`, isCidr, IP_MESSAGE);
        each(condition.notValues, `${field}.notValues`, isCidr, IP_MESSAGE);
      } else if (kind === "DestinationPort") {
        each(condition.values, `${field}.values`, isPort, PORT_MESSAGE);
        each(condition.notValues, `${field}.notValues`, isPort, PORT_MESSAGE);
      }
    });
  });
  return issues;
}

/** A workload selector's label problems, named from `spec.selector`. */
function selectorIssues(selector: LabelSelector | undefined): ValidationIssue[] {
  if (selector === undefined) return [];
  return selectorProblems(selector).map((p) => ({ field: `spec.selector.${p.field}`, message: p.message }));
}

export function peerAuthenticationIssues(pa: PeerAuthentication): ValidationIssue[] {
  const issues = selectorIssues(pa.spec?.selector);
  const portLevel = pa.spec?.portLevelMtls;
  if (portLevel === undefined) return issues;
  if (pa.spec.selector === undefined)
    issues.push({ field: "spec.portLevelMtls", message: "portLevelMtls requires a selector" });
  if (Object.keys(portLevel).some((k) => !/^[0-9]{1,5}$/.test(k) || parsePort(k) === undefined))
    issues.push({ field: "spec.portLevelMtls", message: "keys must be port numbers from 1 to 65535" });
  return issues;
}

// --- Findings ----------------------------------------------------------------
