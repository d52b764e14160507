/**
 * Mocha global fixture: one real etcd + kube-apiserver for the whole
 * integration run, with Skiff's CRDs installed. Tests that need their own
 * control plane (lifecycle tests) start one.
 */
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";

let plane: LocalControlPlane | undefined;

export async function mochaGlobalSetup(): Promise<void> {
  const started = Date.now();
  plane = await LocalControlPlane.start();
  console.log(`  control plane up in ${Date.now() - started} ms at ${plane.apiServerUrl}`);
}

export async function mochaGlobalTeardown(): Promise<void> {
  await plane?.stop();
}

/** The shared control plane. */
export function controlPlane(): LocalControlPlane {
  if (!plane) throw new Error("the control plane is not running (is the global fixture loaded?)");
  return plane;
}
