import { readFile } from "node:fs/promises";
import { KUBECONFIG_OPTIONS, KUBECONFIG_USAGE } from "../cluster/kubeconfig.js";
import { UsageError } from "../exit-status.js";

/** The ServiceAccount in the root namespace whose token the commands mint when none is given (config/rbac). */
export const MESH_READER_SERVICE_ACCOUNT = "skiff-mesh-reader";

/** The options both commands take to reach the xDS servers (for node:util parseArgs). */
export const XDS_ACCESS_OPTIONS = {
  ...KUBECONFIG_OPTIONS,
  "xds-address": { type: "string", multiple: true },
  plaintext: { type: "boolean", default: false },
  "xds-ca-file": { type: "string" },
  "xds-server-name": { type: "string" },
  "token-file": { type: "string" },
} as const;

export const XDS_ACCESS_USAGE = `${KUBECONFIG_USAGE}
  --xds-address      an xDS server to ask, host:port (repeatable); default: every Ready
                     skiff-xds Pod in the Mesh's root namespace, through a port-forward
  --plaintext        the xDS server serves plaintext (skiff xds --insecure: skiff dev, tests)
  --xds-ca-file      the mesh root to verify the server with (default: the skiff-trust-bundle ConfigMap)
  --xds-server-name  the name the server's certificate must carry (default: skiff-xds.<root namespace>.svc)
  --token-file       a ServiceAccount token for the skiff audience whose ServiceAccount may get
                     meshes.skiff.dev (or $SKIFF_XDS_TOKEN); default: a 10-minute token of
                     ${MESH_READER_SERVICE_ACCOUNT} in the root namespace, by TokenRequest`;

export interface XdsAccessOptions {
  readonly kubeconfig?: string;
  readonly context?: string;
  readonly addresses: readonly string[];
  readonly plaintext: boolean;
  readonly caFile?: string;
  readonly serverName?: string;
  readonly token?: string;
  /** The namespace of the Pod asked about, another place to find the trust bundle. */
  readonly podNamespace?: string;
}

interface ParsedAccess {
  kubeconfig?: string;
  context?: string;
  "xds-address"?: string[];
  plaintext?: boolean;
  "xds-ca-file"?: string;
  "xds-server-name"?: string;
  "token-file"?: string;
}

/** The parsed options as XdsAccessOptions, the token read from its file or $SKIFF_XDS_TOKEN. */
export async function xdsAccessOptions(
  values: ParsedAccess,
  podNamespace?: string,
): Promise<XdsAccessOptions> {
  for (const address of values["xds-address"] ?? [])
    if (!/^.+:\d+$/.test(address)) throw new UsageError(`--xds-address ${address} is not host:port`);
  return {
    kubeconfig: values.kubeconfig,
    context: values.context,
    addresses: values["xds-address"] ?? [],
    plaintext: values.plaintext ?? false,
    caFile: values["xds-ca-file"],
    serverName: values["xds-server-name"],
    token: await tokenOf(values["token-file"]),
    podNamespace,
  };
}

async function tokenOf(file: string | undefined): Promise<string | undefined> {
  if (file === undefined) return process.env.SKIFF_XDS_TOKEN?.trim() || undefined;
  const token = await readFile(file, "utf8").then(
    (text) => text.trim(),
    (error: Error) => {
      throw new UsageError(`cannot read --token-file ${file}: ${error.message}`);
    },
  );
  if (!token) throw new UsageError(`--token-file ${file} is empty`);
  return token;
}
