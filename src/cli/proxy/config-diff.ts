import { createTwoFilesPatch, FILE_HEADERS_ONLY } from "diff";
import { stringify } from "yaml";
import { SERVER_METADATA } from "../../xds/status/client-config.js";
import type { AnyJson, ClientConfig } from "./client-config-json.js";
import { XDS_TYPES } from "./client-config-json.js";

/**
 * What the control plane wants a proxy to run against what it ACKed last,
 * per xDS type, as unified diffs of the resources in YAML. Pure. From CSDS
 * (docs/csds.md): a SYNCED type's xds_config is both; a NACKED type's
 * xds_config is what the proxy runs and error_state.failed_configuration
 * what it refused; a STALE type's xds_config is what was sent, and the
 * version the proxy last ACKed is in the node's SKIFF_AWAITING_ANSWER (its
 * resources are not in CSDS).
 */
export function configDiff(config: ClientConfig): string {
  const entries = config.generic_xds_configs ?? [];
  const awaiting = (config.node?.metadata?.[SERVER_METADATA.awaitingAnswer] ?? {}) as Record<
    string,
    { sentVersion?: string; ackedVersion?: string }
  >;
  const sections: string[] = [];
  for (const [type, typeUrl] of Object.entries(XDS_TYPES)) {
    const ofType = entries.filter((entry) => entry.type_url === typeUrl);
    if (ofType.length === 0) continue;
    const waiting = awaiting[typeUrl];
    if (waiting) {
      sections.push(
        `${type}: sent version ${waiting.sentVersion ?? "?"} is not answered yet; the proxy last ACKed ${waiting.ackedVersion ?? "nothing"} (CSDS carries only what was sent: ${ofType.map((e) => e.name).join(", ")})`,
      );
      continue;
    }
    const acked = new Map<string, AnyJson>();
    const wanted = new Map<string, AnyJson>();
    for (const entry of ofType) {
      if (entry.xds_config) acked.set(entry.name, entry.xds_config);
      const refused =
        entry.config_status === "ERROR" ? entry.error_state?.failed_configuration : entry.xds_config;
      if (refused) wanted.set(entry.name, refused);
    }
    const ackedVersion = ofType[0]?.version_info ?? "";
    const wantedVersion = ofType.find((e) => e.error_state)?.error_state?.version_info ?? ackedVersion;
    const [before, after] = [asYaml(acked), asYaml(wanted)];
    sections.push(
      before === after
        ? `${type}: in sync (${acked.size} resources, version ${ackedVersion || "none"})`
        : createTwoFilesPatch(
            `${type} ACKed by the proxy (version ${ackedVersion || "none"})`,
            `${type} the control plane wants (version ${wantedVersion || "none"})`,
            before,
            after,
            undefined,
            undefined,
            { context: 3, headerOptions: FILE_HEADERS_ONLY },
          ).trimEnd(),
    );
  }
  return sections.join("\n");
}

function asYaml(resources: ReadonlyMap<string, AnyJson>): string {
  if (resources.size === 0) return "";
  return stringify(Object.fromEntries([...resources].sort(([a], [b]) => a.localeCompare(b))), {
    lineWidth: 0,
  });
}
