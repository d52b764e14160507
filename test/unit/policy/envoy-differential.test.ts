import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import fc from "fast-check";
import type { AuthorizationPolicyModel } from "../../../src/ir/security.js";
import { appliesTo, authorize } from "../../../src/policy/authorization.js";
import { rbacFilters } from "../../../src/xds/translate/authorization.js";
import {
  evaluatorRequest,
  policiesArb,
  PRINCIPALS,
  requestArb,
  ROOT_NAMESPACE,
  WORKLOAD,
  type AddressPools,
  type GeneratedRequest,
} from "../../support/arbitrary-authorization.js";
import { EnvoyRbacOracle, type EnvoyVerdict } from "../../support/envoy-rbac-oracle.js";
import { portsFreeOn } from "../../support/free-ports.js";

/**
 * Differential test with real Envoy as the oracle: random policy sets, our
 * translation of them (`rbacFilters`) loaded into a real Envoy, and random
 * requests over real connections (mTLS with client certificates naming the
 * principals, or plaintext; from and to the request's own addresses). For
 * every case, Envoy's decision, the rule that decided and the first AUDIT
 * rule that matched must be the reference evaluator's (what `skiff
 * simulate` reports):
 *
 * - a DENY names its rule in the response details
 *   (`rbac_access_denied_matched_policy[ns/name/index]`, `[none]` when no
 *   ALLOW rule matched), for TCP in the connection's termination details;
 * - an ALLOW names its rule in the RBAC filter's dynamic metadata
 *   (`skiff_allow_enforced_effective_policy_id`), and the AUDIT filter its
 *   first matching rule (`skiff_audit_shadow_effective_policy_id`), both read
 *   from Envoy's access log.
 *
 * SKIFF_DIFFERENTIAL_CASES (default 1200; `make differential` runs 5000)
 * and SKIFF_DIFFERENTIAL_SEED (default fixed) size and seed it.
 *
 * What the request space leaves out, and why:
 * - Addresses are loopback ones (127/8 and ::1): a client can send from
 *   them with no setup. Source and destination are of one family.
 * - No lowercase methods: Envoy's HTTP/1 codec refuses them (400) before
 *   any filter runs.
 * - No SNI (clients connect to addresses), as in the gRPC differential.
 */
const CASES = Number(process.env.SKIFF_DIFFERENTIAL_CASES ?? 1200);
const SEED = Number(process.env.SKIFF_DIFFERENTIAL_SEED ?? 20260420);
const REQUESTS_PER_SET = 20;
const DESTINATIONS = ["127.1.2.10", "127.9.9.9", "::1"];

function loopbackPools(ports: readonly number[]): AddressPools {
  return {
    cidrs: [
      "127.0.0.0/8",
      "127.1.0.0/16",
      "127.1.2.3",
      "127.1.2.99/24",
      "127.168.0.0/16",
      "::1/128",
      "0.0.0.0/0",
    ],
    destinationCidrs: ["127.1.0.0/16", "127.1.2.10", "127.0.0.0/8", "::/64"],
    sourceIps: ["127.1.2.3", "127.2.0.1", "127.168.5.5", "::1", "127.16.0.1", "127.1.3.4"],
    destinationIps: DESTINATIONS,
    ports,
    hosts: ["reviews", "reviews:9080", "REVIEWS.bookinfo.svc", "details.svc", "ratings.svc:9080", ""],
    methods: ["GET", "POST", "PUT", "DELETE"],
    requestPseudoHeaders: true,
  };
}

interface Case {
  readonly policies: AuthorizationPolicyModel[];
  readonly request: GeneratedRequest;
}

/** What decided, as both sides can say it. */
interface Outcome {
  readonly allowed: boolean;
  /** `ns/name/index` of the deciding rule; "none" when no rule decided. */
  readonly rule: string;
  /** The first AUDIT rule that matched; "none" when none did. */
  readonly audit: string;
}

function evaluated(c: Case): Outcome {
  const d = authorize(c.policies, ROOT_NAMESPACE, WORKLOAD, evaluatorRequest(c.request));
  return {
    allowed: d.decision === "ALLOW",
    rule: d.policy === null ? "none" : `${d.policy}/${d.rule}`,
    audit: d.audited[0] ?? "none",
  };
}

function enforced(v: EnvoyVerdict): Outcome {
  const denied = /^rbac_access_denied_matched_policy\[(.*)\]$/.exec(v.details);
  return {
    allowed: v.allowed,
    rule: v.allowed
      ? (v.metadata.skiff_allow_enforced_effective_policy_id ??
        v.metadata.skiff_allow_shadow_effective_policy_id ??
        "none")
      : (denied?.[1] ?? v.details),
    audit: v.metadata.skiff_audit_shadow_effective_policy_id ?? "none",
  };
}

describe("differential: evaluator vs real Envoy's RBAC filters on our translation", function () {
  this.timeout(0);
  let oracle: EnvoyRbacOracle;
  const sets: { protocol: "HTTP" | "TCP"; cases: Case[] }[] = [];

  before(async function () {
    this.timeout(300_000); // the first run fetches Envoy
    const count = Math.ceil(CASES / REQUESTS_PER_SET);
    const ports = await portsFreeOn(DESTINATIONS, count * 3);
    const protocols = fc.sample(
      fc.constantFrom("HTTP" as const, "HTTP" as const, "HTTP" as const, "TCP" as const),
      {
        numRuns: count,
        seed: SEED,
      },
    );
    for (let i = 0; i < count; i++) {
      const pools = loopbackPools(ports.slice(3 * i, 3 * i + 3));
      const [policies] = fc.sample(policiesArb(pools), { numRuns: 1, seed: SEED + i });
      const requests = fc.sample(
        requestArb(pools, { protocol: fc.constant(protocols[i]!), sameFamily: true }),
        {
          numRuns: Math.min(REQUESTS_PER_SET, CASES - i * REQUESTS_PER_SET),
          seed: SEED + i + 1_000_000,
        },
      );
      sets.push({
        protocol: protocols[i]!,
        cases: requests.map((request) => ({ policies: policies!, request })),
      });
    }
    const started = Date.now();
    oracle = await EnvoyRbacOracle.start(
      sets.map((set, i) => ({
        protocol: set.protocol,
        ports: ports.slice(3 * i, 3 * i + 3),
        filters: rbacFilters(
          set.cases[0]!.policies.filter((p) => appliesTo(p, ROOT_NAMESPACE, WORKLOAD)),
          { trustDomain: "cluster.local", protocol: set.protocol },
        ),
      })),
      { destinationIps: DESTINATIONS, principals: PRINCIPALS },
    );
    console.log(
      `      Envoy with ${sets.length} policy sets (listeners) ready in ${Date.now() - started} ms`,
    );
  });

  after(async () => oracle?.stop());

  it(`agrees on ${CASES} cases: decision, deciding rule and audited rule (seed ${SEED})`, async () => {
    const cases = sets.flatMap((s) => s.cases);
    const started = Date.now();
    const verdicts = await oracle.ask(cases.map((c) => c.request));
    const seconds = (Date.now() - started) / 1000;
    const mismatches: string[] = [];
    const found: object[] = [];
    let allowed = 0;
    let ruled = 0;
    let audited = 0;
    cases.forEach((c, i) => {
      const ours = evaluated(c);
      const theirs = enforced(verdicts[i]!);
      if (ours.allowed) allowed++;
      if (ours.rule !== "none") ruled++;
      if (ours.audit !== "none") audited++;
      if (JSON.stringify(ours) !== JSON.stringify(theirs))
        found.push({ ours, theirs, envoy: verdicts[i], ...c });
      if (JSON.stringify(ours) !== JSON.stringify(theirs))
        mismatches.push(
          `evaluator ${JSON.stringify(ours)}, Envoy ${JSON.stringify(theirs)} ${JSON.stringify(verdicts[i])}\n` +
            `  request ${JSON.stringify(c.request)}\n  policies ${JSON.stringify(c.policies)}`,
        );
    });
    if (process.env.SKIFF_DIFFERENTIAL_REPORT)
      writeFileSync(process.env.SKIFF_DIFFERENTIAL_REPORT, JSON.stringify(found, null, 1));
    console.log(
      `      ${cases.length} cases in ${seconds.toFixed(1)} s: ${mismatches.length} mismatches; ` +
        `${allowed} allowed, ${ruled} decided by a rule, ${audited} audited`,
    );
    assert.deepEqual(mismatches.slice(0, 5), [], `${mismatches.length} of ${cases.length} cases differ`);
    // Each side of the comparison must be well represented, or it proves little.
    for (const [what, n] of [
      ["allowed", allowed],
      ["decided by a rule", ruled],
      ["audited", audited],
    ] as const)
      assert.ok(n > cases.length / 20 && n < (cases.length * 19) / 20, `${n} of ${cases.length} ${what}`);
  });
});
