import type { RetryModel } from "./model.js";

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
