import { status as GrpcStatus } from "@grpc/grpc-js";

/** The statuses a failed credentials check ends a stream with. */
export type AuthenticationStatus =
  | GrpcStatus.UNAUTHENTICATED
  | GrpcStatus.PERMISSION_DENIED
  | GrpcStatus.UNAVAILABLE
  | GrpcStatus.RESOURCE_EXHAUSTED;

/**
 * Why a proxy's credentials were not accepted, and whose fault that is:
 *
 * - UNAUTHENTICATED: the credentials themselves (a token the API server
 *   refuses, another audience, not a ServiceAccount's). Retrying with the
 *   same ones cannot help.
 * - PERMISSION_DENIED: valid credentials that do not back what the proxy
 *   claims to be (its node id names a Pod its token is not bound to).
 * - UNAVAILABLE: the server could not check them (the API server down or
 *   overloaded, no usable CA yet). The proxy should retry, as it does for
 *   any unavailable server.
 * - RESOURCE_EXHAUSTED: this peer presented too many refused tokens lately.
 *
 * Any other error from a check is taken as UNAVAILABLE: a failure the
 * server did not foresee is not the proxy's fault.
 */
export class AuthenticationError extends Error {
  constructor(
    readonly code: AuthenticationStatus,
    message: string,
  ) {
    super(message);
    this.name = "AuthenticationError";
  }
}

export const refused = (message: string) => new AuthenticationError(GrpcStatus.UNAUTHENTICATED, message);
export const forbidden = (message: string) => new AuthenticationError(GrpcStatus.PERMISSION_DENIED, message);
export const uncheckable = (message: string) => new AuthenticationError(GrpcStatus.UNAVAILABLE, message);

/** The status and details a stream whose credentials check failed with `err` ends with. */
export function authenticationFailure(err: unknown): { code: AuthenticationStatus; details: string } {
  const message = err instanceof Error ? err.message : String(err);
  if (!(err instanceof AuthenticationError))
    return { code: GrpcStatus.UNAVAILABLE, details: `the credentials could not be checked: ${message}` };
  if (err.code === GrpcStatus.UNAUTHENTICATED)
    return { code: err.code, details: `invalid credentials: ${message}` };
  if (err.code === GrpcStatus.UNAVAILABLE)
    return { code: err.code, details: `the credentials could not be checked: ${message}` };
  return { code: err.code, details: message };
}
