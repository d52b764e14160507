/**
 * The two kinds of change B2 writes, each carrying a marker that only the
 * Envoy resources it produces contain, so the load generator can tell when a
 * proxy has it (see hack/xdsbench/expect.go). Markers have a fixed width, so
 * that none is a prefix of another, and come from one sequence for the whole
 * run, so that no change repeats an earlier state.
 */
import type { KubeConfig, KubernetesObject } from "@kubernetes/client-node";
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import { ServerSideApplier } from "../../../src/k8s/apply.js";
import { RestClient } from "../../../src/k8s/rest.js";
import { NAMESPACE } from "./cluster.js";

export type ChangeKind = "endpoints" | "policy";

export interface Change {
  readonly kind: ChangeKind;
  readonly id: string;
  readonly marker: string;
  /** Sends the one write request; resolves with the object written. */
  write(): Promise<KubernetesObject>;
}

export const B2_POLICY = "b2-route";
const MAX_CHANGES = 10_000;

function checkSequence(n: number): void {
  if (!Number.isInteger(n) || n < 0 || n >= MAX_CHANGES)
    throw new Error(`change ${n}: at most ${MAX_CHANGES}`);
}

/**
 * Makes the changes, with one client for all of them, so that no change
 * pays for API discovery (warm it with the policy's first apply).
 */
export class ChangeWriter {
  private readonly rest: RestClient;
  private readonly applier: ServerSideApplier;

  constructor(
    kubeConfig: KubeConfig,
    private readonly slices: readonly IEndpointSlice[],
    /** The Service whose TrafficPolicy the policy changes edit. */
    readonly policyService: string,
  ) {
    this.rest = new RestClient(kubeConfig);
    this.applier = new ServerSideApplier(kubeConfig, "bench-convergence");
  }

  /**
   * Change n of the endpoints: the first address of one EndpointSlice (slices
   * taken in turn, spread over the Services) becomes 10.250.1xx.1yy, outside
   * the fixture's Pod (10.1/16) and Service (10.0.0/24, 10.96/16) ranges. One
   * JSON patch request; the EDS resource of that Service changes.
   */
  endpoints(n: number): Change {
    checkSequence(n);
    const slice = this.slices[(n * 37) % this.slices.length]!;
    const address = `10.250.${100 + Math.floor(n / 100)}.${100 + (n % 100)}`;
    return {
      kind: "endpoints",
      id: `endpoints-${n}`,
      marker: address,
      write: () =>
        this.rest.request<KubernetesObject>(
          "PATCH",
          `/apis/discovery.k8s.io/v1/namespaces/${NAMESPACE}/endpointslices/${slice.metadata!.name}`,
          {
            body: [{ op: "replace", path: "/endpoints/0/addresses/0", value: address }],
            contentType: "application/json-patch+json",
          },
        ),
    };
  }

  /**
   * Change n of the TrafficPolicy: a new header value and timeout, by
   * server-side apply (one request, as `kubectl apply --server-side`); the
   * Service's RouteConfiguration changes.
   */
  policy(n: number): Change {
    checkSequence(n);
    const marker = `b2-policy-${String(n).padStart(4, "0")}`;
    return {
      kind: "policy",
      id: `policy-${n}`,
      marker,
      write: () => this.applier.apply(b2Policy(this.policyService, marker, 1000 + n)),
    };
  }

  /** Deletes the policy, so that B5 can give every Service a policy of its own. */
  async deletePolicy(): Promise<void> {
    await this.rest.request(
      "DELETE",
      `/apis/skiff.dev/v1alpha1/namespaces/${NAMESPACE}/trafficpolicies/${B2_POLICY}`,
    );
  }
}

/** The TrafficPolicy B2 edits: one HTTP rule matching a header whose value is the marker, with a timeout. */
export function b2Policy(service: string, marker: string, timeoutMs: number): KubernetesObject {
  return {
    apiVersion: "skiff.dev/v1alpha1",
    kind: "TrafficPolicy",
    metadata: { name: B2_POLICY, namespace: NAMESPACE },
    spec: {
      targetRef: { kind: "Service", name: service },
      http: [
        {
          name: "bench",
          match: [{ headers: [{ name: "x-bench-change", exact: marker }] }],
          route: [{}],
          timeout: `${timeoutMs}ms`,
        },
        { name: "default", route: [{}] },
      ],
    },
  } as KubernetesObject;
}
