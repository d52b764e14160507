import { create, fromBinary, fromJson, toBinary } from "@bufbuild/protobuf";
import { status as GrpcStatus, type Metadata } from "@grpc/grpc-js";
import type { Logger } from "pino";
import { csdsRequests } from "../../observability/metrics.js";
import { refuseUnlessOperator, type OperatorAuthentication } from "../identity/operator-access.js";
import { envoyRegistry, messageType } from "../protos/registry.js";
import type { ProxyState } from "../server/proxy-state.js";
import { clientStatusOf, type ClientStatus, type ResourceStatus } from "./client-config.js";

const REQUEST = messageType("envoy.service.status.v3.ClientStatusRequest");
const RESPONSE = messageType("envoy.service.status.v3.ClientStatusResponse");
const NODE = messageType("envoy.config.core.v3.Node");

/** A ClientStatusRequest is a node and a few matchers; anything much larger is not one. */
const MAX_REQUEST_BYTES = 64 * 1024;

export type CsdsAnswer =
  { readonly response: Uint8Array } | { readonly code: GrpcStatus; readonly details: string };

export interface CsdsServiceOptions extends OperatorAuthentication {
  /** The proxies connected to this replica, with their per-type state. */
  readonly proxies: () => readonly ProxyState[];
  readonly logger: Logger;
}

/**
 * Answers envoy.service.status.v3.ClientStatusDiscoveryService, Fetch and
 * each request of a Stream: the status of every proxy connected to this
 * replica whose node id the request's node_matchers accept (no matchers:
 * all), one ClientConfig each (client-config.ts). Only callers whose
 * ServiceAccount token the API server accepts and whose ServiceAccount may
 * `get` Meshes are answered: no token or a refused one UNAUTHENTICATED, not
 * allowed PERMISSION_DENIED, no review possible UNAVAILABLE. Each outcome is
 * counted in skiff_csds_requests_total, each refusal logged.
 */
export class CsdsService {
  constructor(private readonly options: CsdsServiceOptions) {}

  async answer(request: Uint8Array, metadata: Metadata, peer: string): Promise<CsdsAnswer> {
    let answer: CsdsAnswer;
    try {
      answer = await this.decide(request, metadata, peer);
    } catch (error) {
      this.options.logger.error({ err: error, peer }, "a CSDS request failed unexpectedly");
      answer = { code: GrpcStatus.INTERNAL, details: "the client status could not be read" };
    }
    const outcome = "response" in answer ? "answered" : GrpcStatus[answer.code]!.toLowerCase();
    csdsRequests.inc({ outcome });
    if (!("response" in answer))
      this.options.logger.warn({ peer, outcome, reason: answer.details }, "refused a CSDS request");
    return answer;
  }

  private async decide(bytes: Uint8Array, metadata: Metadata, peer: string): Promise<CsdsAnswer> {
    // Who is asking comes first: nothing an unauthorized caller sends is parsed.
    const refusal = await refuseUnlessOperator(metadata, peer, this.options);
    if (refusal) return refusal;
    if (bytes.byteLength > MAX_REQUEST_BYTES)
      return invalid(`the request is ${bytes.byteLength} bytes; at most ${MAX_REQUEST_BYTES} are accepted`);
    let request: ClientStatusRequest;
    try {
      request = fromBinary(REQUEST, bytes) as unknown as ClientStatusRequest;
    } catch (error) {
      return invalid(`the request is not a ClientStatusRequest: ${(error as Error).message}`);
    }
    const matches = nodeFilter(request.nodeMatchers);
    if (typeof matches === "string") return invalid(matches);
    const configs = this.options
      .proxies()
      .filter((proxy) => matches(proxy.node.id))
      .sort((a, b) => a.node.id.localeCompare(b.node.id) || a.streamId - b.streamId)
      .map((proxy) => clientConfig(clientStatusOf(proxy, request.excludeResourceContents)));
    return { response: toBinary(RESPONSE, create(RESPONSE, { config: configs } as never)) };
  }
}

interface StringMatcher {
  readonly matchPattern: { readonly case?: string; readonly value?: unknown };
  readonly ignoreCase: boolean;
}

interface ClientStatusRequest {
  readonly nodeMatchers: readonly {
    readonly nodeId?: StringMatcher;
    readonly nodeMetadatas: readonly unknown[];
  }[];
  readonly excludeResourceContents: boolean;
}

/**
 * A node id test from the request's matchers, any of which may match; or
 * why they cannot be applied. Skiff matches node ids only (exact, prefix,
 * suffix, contains); a matcher it cannot apply is refused rather than
 * ignored, since ignoring it would answer about proxies not asked for.
 */
function nodeFilter(matchers: ClientStatusRequest["nodeMatchers"]): ((id: string) => boolean) | string {
  if (matchers.length === 0) return () => true;
  const tests: ((id: string) => boolean)[] = [];
  for (const matcher of matchers) {
    if (matcher.nodeMetadatas.length > 0) return "node_metadatas matchers are not supported; match node_id";
    const pattern = matcher.nodeId?.matchPattern;
    if (!pattern?.case) return "each node matcher needs a node_id matcher";
    const ignoreCase = matcher.nodeId!.ignoreCase;
    const fold = (s: string) => (ignoreCase ? s.toLowerCase() : s);
    if (typeof pattern.value !== "string")
      return `node_id matchers of kind ${pattern.case} are not supported (exact, prefix, suffix, contains)`;
    const want = fold(pattern.value);
    const test = {
      exact: (id: string) => fold(id) === want,
      prefix: (id: string) => fold(id).startsWith(want),
      suffix: (id: string) => fold(id).endsWith(want),
      contains: (id: string) => fold(id).includes(want),
    }[pattern.case];
    if (!test)
      return `node_id matchers of kind ${pattern.case} are not supported (exact, prefix, suffix, contains)`;
    tests.push(test);
  }
  return (id) => tests.some((test) => test(id));
}

function clientConfig(status: ClientStatus): Record<string, unknown> {
  return {
    node: fromJson(NODE, status.node, { registry: envoyRegistry() }),
    genericXdsConfigs: status.resources.map(genericXdsConfig),
  };
}

function genericXdsConfig(resource: ResourceStatus): Record<string, unknown> {
  return {
    typeUrl: resource.typeUrl,
    name: resource.name,
    versionInfo: resource.versionInfo,
    ...(resource.resource ? { xdsConfig: asAny(resource.resource) } : {}),
    ...(resource.lastUpdated ? { lastUpdated: timestamp(resource.lastUpdated) } : {}),
    configStatus: resource.configStatus,
    clientStatus: resource.clientStatus,
    ...(resource.error
      ? {
          errorState: {
            details: resource.error.details,
            versionInfo: resource.error.versionInfo,
            lastUpdateAttempt: timestamp(resource.error.at),
            ...(resource.error.failedResource
              ? { failedConfiguration: asAny(resource.error.failedResource) }
              : {}),
          },
        }
      : {}),
  };
}

const asAny = (resource: { typeUrl: string; bytes: Uint8Array }) => ({
  typeUrl: resource.typeUrl,
  value: resource.bytes,
});

const timestamp = (at: Date) => ({
  seconds: BigInt(Math.floor(at.getTime() / 1000)),
  nanos: (at.getTime() % 1000) * 1_000_000,
});

const invalid = (details: string): CsdsAnswer => ({ code: GrpcStatus.INVALID_ARGUMENT, details });
