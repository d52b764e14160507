import type { Metadata } from "@grpc/grpc-js";
import type { RestClient } from "../../k8s/rest.js";
import type { WorkloadIdentity } from "../cache/snapshot.js";
import { refused, uncheckable } from "../server/authentication-error.js";

/** The audience proxies' projected ServiceAccount tokens are minted for (see the injector). */
export const TOKEN_AUDIENCE = "skiff";

interface TokenReview {
  status?: {
    authenticated?: boolean;
    error?: string;
    audiences?: string[];
    user?: { username?: string; extra?: Record<string, string[]> };
  };
}

/**
 * The ServiceAccount token in a proxy's call metadata
 * (`authorization: Bearer <token>`), or undefined when it sent none (the
 * proxy then gets no certificates). Any other authorization is refused.
 */
export function bearerToken(metadata: Metadata): string | undefined {
  const header = metadata.get("authorization")[0];
  if (header === undefined) return undefined;
  const token = /^Bearer\s+(\S+)$/i.exec(String(header))?.[1];
  if (!token) throw refused("the authorization header is not a bearer token");
  return token;
}

/**
 * Whose token this is, as the API server says in a TokenReview for the
 * `skiff` audience. The identity comes from the token alone: what the node
 * claims about itself is never trusted.
 *
 * - A token the API server does not accept (expired, its ServiceAccount or
 *   Pod deleted), for another audience, or not a ServiceAccount's: refused
 *   (UNAUTHENTICATED).
 * - No review at all (the API server unreachable, slow, 5xx, 429, or this
 *   server not allowed to create TokenReviews): UNAVAILABLE, since the
 *   token may well be valid.
 */
export async function reviewToken(
  rest: Pick<RestClient, "request">,
  token: string,
): Promise<WorkloadIdentity> {
  let review: TokenReview;
  try {
    review = await rest.request<TokenReview>("POST", "/apis/authentication.k8s.io/v1/tokenreviews", {
      body: {
        apiVersion: "authentication.k8s.io/v1",
        kind: "TokenReview",
        spec: { token, audiences: [TOKEN_AUDIENCE] },
      },
    });
  } catch (error) {
    throw uncheckable(`the API server did not review the token: ${(error as Error).message}`);
  }
  const status = review.status ?? {};
  if (!status.authenticated)
    throw refused(`the token was not accepted: ${status.error ?? "unauthenticated"}`);
  if (!status.audiences?.includes(TOKEN_AUDIENCE))
    throw refused(`the token is not for the ${TOKEN_AUDIENCE} audience`);
  const match = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(status.user?.username ?? "");
  if (!match)
    throw refused(`the token belongs to ${status.user?.username ?? "nobody"}, not a ServiceAccount`);
  // The API server names the Pod a token is bound to (a kubelet's projected tokens always are).
  const pod = status.user?.extra?.[POD_NAME_EXTRA]?.[0];
  return { namespace: match[1]!, serviceAccount: match[2]!, ...(pod ? { pod } : {}) };
}

/** The TokenReview user's extra key holding the name of the Pod a token is bound to. */
const POD_NAME_EXTRA = "authentication.kubernetes.io/pod-name";
