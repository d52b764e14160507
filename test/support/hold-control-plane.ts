/**
 * Starts a local control plane, prints {"pids":[...],"workDir":"..."} on one
 * line, and waits to be killed. The lifecycle tests kill it in various ways
 * and check that nothing it started survives.
 */
import { LocalControlPlane } from "../../src/controlplane/controlplane.js";

const plane = await LocalControlPlane.start({ crdDirectory: null });
console.log(JSON.stringify({ pids: plane.processIds, workDir: plane.workDir }));
setInterval(() => {}, 1 << 30);
