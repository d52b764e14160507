import type { Metadata } from "@grpc/grpc-js";
import type { RestClient } from "../../k8s/rest.js";
import type { WorkloadIdentity } from "../cache/snapshot.js";

/** The audience proxies' projected ServiceAccount tokens are minted for (see the injector). */
export const TOKEN_AUDIENCE = "skiff";

interface TokenReview {
  status?: {
    authenticated?: boolean;
    error?: string;
    audiences?: string[];
    user?: { username?: string };
  };
}

/**
 * A proxy's identity, from the ServiceAccount token in its call metadata
 * (`authorization: Bearer <token>`), checked by the API server with a
 * TokenReview for the `skiff` audience. The identity comes from the token
 * alone: what the node claims about itself is never trusted.
 *
 * - No authorization header: undefined (the proxy gets no certificates).
 * - A token the API server does not accept, for another audience, or not a
 *   ServiceAccount's: an Error saying why.
 */
export async function identityFromToken(
  rest: RestClient,
  metadata: Metadata,
): Promise<WorkloadIdentity | undefined> {
  const header = metadata.get("authorization")[0];
  if (header === undefined) return undefined;
  const token = /^Bearer\s+(\S+)$/i.exec(String(header))?.[1];
  if (!token) throw new Error("the authorization header is not a bearer token");
  const review = await rest.request<TokenReview>("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
    body: {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenReview",
      spec: { token, audiences: [TOKEN_AUDIENCE] },
    },
  });
  const status = review.status ?? {};
  if (!status.authenticated)
    throw new Error(`the token was not accepted: ${status.error ?? "unauthenticated"}`);
  if (!status.audiences?.includes(TOKEN_AUDIENCE))
    throw new Error(`the token is not for the ${TOKEN_AUDIENCE} audience`);
  const match = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(status.user?.username ?? "");
  if (!match)
    throw new Error(`the token belongs to ${status.user?.username ?? "nobody"}, not a ServiceAccount`);
  return { namespace: match[1]!, serviceAccount: match[2]! };
}
