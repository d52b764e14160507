import { create, fromBinary, toBinary, toJson } from "@bufbuild/protobuf";
import {
  Client,
  Metadata,
  status as GrpcStatus,
  type ChannelCredentials,
  type ServiceError,
} from "@grpc/grpc-js";
import { envoyRegistry, messageType } from "../../xds/protos/registry.js";
import type { ClientConfig } from "./client-config-json.js";

const FETCH = "/envoy.service.status.v3.ClientStatusDiscoveryService/FetchClientStatus";
const REQUEST = "envoy.service.status.v3.ClientStatusRequest";
const RESPONSE = "envoy.service.status.v3.ClientStatusResponse";

/** How long one replica may take to answer, connection included. */
const ANSWER_TIMEOUT_MS = 15_000;

export interface CsdsCall {
  readonly address: string;
  readonly credentials: ChannelCredentials;
  /** The server name TLS checks the certificate against, when it differs from the address's host. */
  readonly serverName?: string;
  readonly token: string;
  /** Only the proxies whose node id one of these accepts (CSDS node_matchers), or all. */
  readonly nodeIds?: readonly NodeIdMatcher[];
  readonly excludeResourceContents?: boolean;
}

/** A node id equal to, or containing, a string: the CSDS StringMatchers the server supports. */
export type NodeIdMatcher = { readonly exact: string } | { readonly contains: string };

/** A replica's refusal or silence, said in one line. */
export class CsdsCallError extends Error {}

/**
 * One FetchClientStatus call to one xDS server. The answer is in the proto3
 * JSON mapping with the protos' own field names (snake_case, as Envoy's admin
 * /config_dump prints), resources as Anys with @type.
 */
export async function fetchClientStatus(call: CsdsCall): Promise<ClientConfig[]> {
  const client = new Client(call.address, call.credentials, {
    ...(call.serverName ? { "grpc.ssl_target_name_override": call.serverName } : {}),
  });
  const request = {
    nodeMatchers: (call.nodeIds ?? []).map((matcher) => ({
      nodeId: {
        matchPattern:
          "exact" in matcher
            ? { case: "exact", value: matcher.exact }
            : { case: "contains", value: matcher.contains },
      },
    })),
    excludeResourceContents: call.excludeResourceContents ?? false,
  };
  const metadata = new Metadata();
  metadata.set("authorization", `Bearer ${call.token}`);
  try {
    const bytes = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        FETCH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from(toBinary(messageType(REQUEST), create(messageType(REQUEST), request as never))),
        metadata,
        { deadline: Date.now() + ANSWER_TIMEOUT_MS },
        (error, response) => (error ? reject(error) : resolve(response!)),
      ),
    );
    const answer = toJson(messageType(RESPONSE), fromBinary(messageType(RESPONSE), bytes), {
      registry: envoyRegistry(),
      useProtoFieldName: true,
    }) as { config?: ClientConfig[] };
    return answer.config ?? [];
  } catch (error) {
    throw new CsdsCallError(describeCallError(error as ServiceError));
  } finally {
    client.close();
  }
}

function describeCallError(error: ServiceError): string {
  const details = (error.details || error.message || "").split("\n")[0];
  switch (error.code) {
    case GrpcStatus.UNAVAILABLE:
    case GrpcStatus.DEADLINE_EXCEEDED:
      return `no answer (${GrpcStatus[error.code]}): ${details}`;
    case GrpcStatus.UNAUTHENTICATED:
      return `the token was refused (UNAUTHENTICATED): ${details}`;
    case GrpcStatus.PERMISSION_DENIED:
      return `not allowed (PERMISSION_DENIED): ${details}`;
    case undefined:
      return details ?? String(error);
    default:
      return `${GrpcStatus[error.code] ?? error.code}: ${details}`;
  }
}
