import type { CrdDefinition } from "../crd.js";
import { authorizationPolicyCrd } from "./authorizationpolicy.js";
import { meshCrd } from "./mesh.js";
import { peerAuthenticationCrd } from "./peerauthentication.js";
import { trafficPolicyCrd } from "./trafficpolicy.js";

export { API_VERSION } from "./common.js";

/** Every kind Skiff serves, in the order documentation lists them. */
export const CRDS: readonly CrdDefinition[] = [
  meshCrd,
  trafficPolicyCrd,
  peerAuthenticationCrd,
  authorizationPolicyCrd,
];
