import type { RetryModel, WeightedDestination } from "./model.js";

/**
 * Istio's retry policy: for a rule that sets none, for requests that match no
 * rule, and for Services without a policy. As in Istio, retriable-status-codes
 * means 503: without a status, Envoy would never retry on it.
 */
export const DEFAULT_RETRY: RetryModel = {
  attempts: 2,
  retryOn: ["connect-failure", "refused-stream", "unavailable", "cancelled", "retriable-status-codes"],
  retriableStatusCodes: [503],
};

/** The weight of a destination that names none: equal shares among such destinations. */
export const DEFAULT_WEIGHT = 100;

/** Where traffic that no rule takes goes, and all traffic of a Service without a policy: every endpoint. */
export const WHOLE_SERVICE: readonly WeightedDestination[] = [{ weight: DEFAULT_WEIGHT }];

/** How long a client's proxy waits for a new connection when no policy says: Istio's connectTimeout, 10 s. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
