/**
 * The changes of the churn benchmark (B3): a sequence of endpoint changes to
 * the fixture's cluster, each one Service whose endpoints change, turned into
 * Envoy resources by Skiff's real compile and translate.
 *
 * - Change c takes the Services with endpoints in turn (c modulo their
 *   count) and moves one of that Service's Pods to a new address that no
 *   earlier state used (10.200.0.0 + c), in the Pod and in its EndpointSlice,
 *   as a rescheduled Pod would. Every change is a new ClusterLoadAssignment.
 * - Each change is compiled and translated on the changed Service alone (its
 *   Namespace, Service, EndpointSlices and Pods), since the whole cluster
 *   takes ~0.1 s per run at the default size. That this gives what the
 *   whole cluster gives is checked: each Service's translation before its
 *   first change must equal the full fixture's, resource by resource, a
 *   change must alter exactly one resource, its ClusterLoadAssignment, and
 *   the whole cluster after the last change, compiled and translated once,
 *   must equal the fixture with the final ClusterLoadAssignments put in.
 */
import type { IEndpointSlice } from "kubernetes-models/discovery.k8s.io/v1";
import type { IPod, IService } from "kubernetes-models/v1";
import { isDeepStrictEqual } from "node:util";
import { compile } from "../../../src/compile/compile.js";
import type { ClusterState } from "../../../src/compile/state.js";
import { ENDPOINT_TYPE, type EnvoyResource } from "../../../src/xds/translate/resource.js";
import { everyResource, translate, type MeshResources } from "../../../src/xds/translate/translate.js";
import { clusterState, sidecarView, type Fixture, type FixtureOptions } from "./fixture.js";
import { withReplaced } from "./replace-resources.js";

export interface EndpointChange {
  readonly service: string;
  readonly pod: string;
  readonly address: string;
  /** The Service's new ClusterLoadAssignment: the only resource the change alters. */
  readonly resource: EnvoyResource;
}

export interface ChurnChanges {
  readonly changes: readonly EndpointChange[];
  /** The last ClusterLoadAssignment of every Service that changed: what every proxy must end up with. */
  readonly final: readonly EnvoyResource[];
}

const ipv4 = (n: number) => `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`;
/** Addresses of moved Pods: 10.200.0.0 upwards, outside the fixture's Pod and Service ranges. */
const movedPodIp = (c: number) => ipv4(((10 << 24) | (200 << 16)) + c);

const key = (r: EnvoyResource) => `${r.typeUrl}\0${r.name}`;
const sliceService = (s: IEndpointSlice) => s.metadata?.labels?.["kubernetes.io/service-name"];

const selects = (service: IService, pod: IPod) =>
  Object.entries(service.spec?.selector ?? {}).every(([k, v]) => pod.metadata?.labels?.[k] === v);

/** The part of the cluster one Service's translation depends on. */
function serviceState(state: ClusterState, service: IService): ClusterState {
  return {
    ...state,
    services: [service],
    endpointSlices: state.endpointSlices.filter((s) => sliceService(s) === service.metadata!.name),
    pods: state.pods.filter((p) => selects(service, p)),
  };
}

function translateAll(state: ClusterState): MeshResources {
  return translate(compile(state).model);
}

/** Every resource of a translation, by type and name (a later one of the same name replacing an earlier). */
function byKey(resources: MeshResources): Map<string, EnvoyResource> {
  return new Map(everyResource(resources).map((r) => [key(r), r]));
}

/** The resources whose content differs between two translations, or that only one has. */
function differences(before: Map<string, EnvoyResource>, after: Map<string, EnvoyResource>): string[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys].filter((k) => !isDeepStrictEqual(before.get(k)?.json, after.get(k)?.json));
}

/** Moves one Pod of the Service to `address`, in the Pod and in the EndpointSlice that lists it. */
function movePod(state: ClusterState, pod: IPod, address: string): ClusterState {
  const podName = pod.metadata!.name!;
  const old = pod.status!.podIP!;
  return {
    ...state,
    pods: state.pods.map((p) => (p === pod ? { ...p, status: { ...p.status, podIP: address } } : p)),
    endpointSlices: state.endpointSlices.map((s) =>
      s.endpoints.some((e) => e.targetRef?.name === podName)
        ? {
            ...s,
            endpoints: s.endpoints.map((e) =>
              e.targetRef?.name === podName
                ? { ...e, addresses: e.addresses.map((a) => (a === old ? address : a)) }
                : e,
            ),
          }
        : s,
    ),
  };
}

/** `count` endpoint changes to the fixture's cluster, checked as described at the top. */
export function churnChanges(options: FixtureOptions, fixture: Fixture, count: number): ChurnChanges {
  let state = clusterState(options);
  const full = byKey(fixture.resources);
  const serving = state.services.filter((svc) => state.pods.some((p) => selects(svc, p)));
  if (serving.length === 0) throw new Error("churn: no Service has endpoints");

  const latest = new Map<string, Map<string, EnvoyResource>>();
  const changes: EndpointChange[] = [];
  for (let c = 0; c < count; c++) {
    const service = serving[c % serving.length]!;
    const name = service.metadata!.name!;
    let before = latest.get(name);
    if (!before) {
      before = byKey(translateAll(serviceState(state, service)));
      for (const [k, r] of before)
        if (full.has(k) && !isDeepStrictEqual(full.get(k)!.json, r.json))
          throw new Error(`churn: ${r.name} of ${name} alone differs from the full fixture's`);
    }
    const own = serviceState(state, service).pods;
    const pod = own[Math.floor(c / serving.length) % own.length]!;
    const address = movedPodIp(c);
    state = movePod(state, pod, address);
    const after = byKey(translateAll(serviceState(state, service)));
    const changed = differences(before, after);
    const resource = after.get(changed[0] ?? "");
    if (changed.length !== 1 || resource?.typeUrl !== ENDPOINT_TYPE || !full.has(key(resource)))
      throw new Error(
        `churn: moving ${pod.metadata!.name} changed ${changed.length} resources (${changed.join(", ")}), not one ClusterLoadAssignment that proxies have`,
      );
    latest.set(name, after);
    changes.push({ service: name, pod: pod.metadata!.name!, address, resource });
  }

  const final = [...new Map(changes.map((c) => [key(c.resource), c.resource])).values()];
  checkFinalState(state, fixture, final);
  return { changes, final };
}

/** The whole cluster after the changes, translated once, is the fixture with the final resources put in. */
function checkFinalState(state: ClusterState, fixture: Fixture, final: readonly EnvoyResource[]): void {
  const translated = sidecarView(translateAll(state));
  const expected = sidecarView(withReplaced(fixture.resources, final));
  const problems = differences(
    new Map(expected.map((r) => [key(r), r])),
    new Map(translated.map((r) => [key(r), r])),
  );
  if (problems.length > 0)
    throw new Error(
      `churn: the changed cluster translates to other resources than the changes say: ${problems.slice(0, 5).join(", ")}`,
    );
  const initial = new Map(fixture.sidecarView.map((r) => [key(r), r]));
  for (const r of final)
    if (isDeepStrictEqual(r.json, initial.get(key(r))?.json))
      throw new Error(`churn: ${r.name} ends as it started, so no proxy could show it arrived`);
}
