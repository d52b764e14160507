import { createHash } from "node:crypto";
import { xdsResourceEncodes } from "../../observability/metrics.js";
import { encodeJson } from "../protos/registry.js";
import { messageName, type EnvoyResource } from "../translate/resource.js";
import type { EncodedResource } from "./snapshot.js";

/** The short xDS name of a type URL (cds, eds...), for metric labels. */
export function shortTypeName(typeUrl: string): string {
  const name = messageName(typeUrl);
  const known: Record<string, string> = {
    "envoy.config.listener.v3.Listener": "lds",
    "envoy.config.route.v3.RouteConfiguration": "rds",
    "envoy.config.cluster.v3.Cluster": "cds",
    "envoy.config.endpoint.v3.ClusterLoadAssignment": "eds",
    "envoy.extensions.transport_sockets.tls.v3.Secret": "sds",
  };
  return known[name] ?? name;
}

/**
 * Encodes each distinct resource once. A resource is identified by its type,
 * name and content, so a change to one cluster re-encodes that cluster only,
 * and a thousand proxies that receive it share one buffer. Entries not used
 * by the latest generation are dropped.
 */
export class EncodedResourceCache {
  private entries = new Map<string, EncodedResource>();
  /**
   * The encoding of each resource object already published. Translations
   * are immutable, so a republish that reuses them (a new certificate
   * republishes the whole mesh) costs a lookup per resource, not a
   * serialisation and a hash.
   */
  private byObject = new WeakMap<EnvoyResource, { key: string; encoded: EncodedResource }>();

  /** The encoded form of every resource, encoding only those not seen in the previous generation. */
  encodeGeneration(resources: Iterable<EnvoyResource>): Map<EnvoyResource, EncodedResource> {
    const next = new Map<string, EncodedResource>();
    const result = new Map<EnvoyResource, EncodedResource>();
    for (const resource of resources) {
      const seen = this.byObject.get(resource);
      if (seen) {
        // The key kept with it: building it again would cost a concatenation and a hash per resource and run.
        next.set(seen.key, seen.encoded);
        result.set(resource, seen.encoded);
        continue;
      }
      const json = JSON.stringify(resource.json);
      const version = createHash("sha256")
        .update(resource.typeUrl)
        .update("\0")
        .update(json)
        .digest("hex")
        .slice(0, 16);
      const key = `${resource.typeUrl}\0${resource.name}\0${version}`;
      let encoded = next.get(key) ?? this.entries.get(key);
      if (!encoded) {
        encoded = {
          typeUrl: resource.typeUrl,
          name: resource.name,
          version,
          bytes: encodeResource(resource),
        };
        xdsResourceEncodes.inc({ type: shortTypeName(resource.typeUrl) });
      }
      next.set(key, encoded);
      result.set(resource, encoded);
      this.byObject.set(resource, { key, encoded });
    }
    this.entries = next;
    return result;
  }
}

/** The resource's bytes; an error names the resource, so status and logs can say which one failed. */
function encodeResource(resource: EnvoyResource): Uint8Array {
  const type = messageName(resource.typeUrl);
  try {
    return encodeJson(type, resource.json);
  } catch (error) {
    throw new Error(
      `cannot encode ${type} ${resource.name}: ${error instanceof Error ? error.message : String(error)}`,
      { cause: error },
    );
  }
}
