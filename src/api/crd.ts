import type { Schema } from "./schema.js";

/** A printer column for `kubectl get`. */
export interface PrinterColumn {
  name: string;
  type: "string" | "integer" | "number" | "boolean" | "date";
  jsonPath: string;
  description: string;
  priority?: number;
}

/**
 * Everything needed to generate one CustomResourceDefinition, its TypeScript
 * types and its offline validator. Each kind's module in `v1alpha1/` exports
 * one of these.
 */
export interface CrdDefinition {
  group: string;
  version: string;
  kind: string;
  plural: string;
  singular: string;
  shortNames: string[];
  categories: string[];
  scope: "Namespaced" | "Cluster";
  /** What the kind is for; shown by `kubectl explain <kind>`. */
  description: string;
  spec: Schema;
  status: Schema;
  printerColumns: PrinterColumn[];
  /** CEL rules on the whole object (they may read `self.metadata.name`). */
  rootRules?: Schema["x-kubernetes-validations"];
}

/** The full `openAPIV3Schema` of a kind: apiVersion, kind, metadata, spec and status. */
export function objectSchema(crd: CrdDefinition): Schema {
  return {
    type: "object",
    title: crd.kind,
    description: crd.description,
    properties: {
      apiVersion: {
        type: "string",
        description:
          "APIVersion defines the versioned schema of this representation of an object. Servers should convert recognized schemas to the latest internal value, and may reject unrecognized values.",
      },
      kind: {
        type: "string",
        description:
          "Kind is a string value representing the REST resource this object represents. Servers may infer this from the endpoint the client submits requests to. In CamelCase.",
      },
      metadata: { type: "object", description: "Standard object metadata." },
      spec: { ...crd.spec, title: `${crd.kind}Spec` },
      status: { ...crd.status, title: `${crd.kind}Status` },
    },
    // A kind whose spec has a default (Mesh, AuthorizationPolicy) may omit it.
    ...(crd.spec.default === undefined ? { required: ["spec"] } : {}),
    ...(crd.rootRules ? { "x-kubernetes-validations": crd.rootRules } : {}),
  };
}

export function crdName(crd: CrdDefinition): string {
  return `${crd.plural}.${crd.group}`;
}

/** Removes what only the TypeScript generator reads (`title`), recursively. */
export function stripTitles(schema: Schema): Schema {
  const { title: _title, properties, items, additionalProperties, ...rest } = schema;
  const out: Schema = { ...rest };
  if (properties) {
    out.properties = Object.fromEntries(Object.entries(properties).map(([k, v]) => [k, stripTitles(v)]));
  }
  if (items) out.items = stripTitles(items);
  if (additionalProperties !== undefined) {
    out.additionalProperties =
      typeof additionalProperties === "boolean" ? additionalProperties : stripTitles(additionalProperties);
  }
  return out;
}

/**
 * The schema as the API server takes it: no titles, and metadata reduced to
 * `type: object`, because the server describes metadata itself and rejects
 * anything more.
 */
export function crdSchema(crd: CrdDefinition): Schema {
  const schema = stripTitles(objectSchema(crd));
  return { ...schema, properties: { ...schema.properties, metadata: { type: "object" } as Schema } };
}

/** The apiextensions.k8s.io/v1 CustomResourceDefinition for a kind. */
export function crdManifest(crd: CrdDefinition): Record<string, unknown> {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "CustomResourceDefinition",
    metadata: { name: crdName(crd) },
    spec: {
      group: crd.group,
      names: {
        kind: crd.kind,
        listKind: `${crd.kind}List`,
        plural: crd.plural,
        singular: crd.singular,
        shortNames: crd.shortNames,
        categories: crd.categories,
      },
      scope: crd.scope,
      versions: [
        {
          name: crd.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: crd.printerColumns,
          schema: { openAPIV3Schema: crdSchema(crd) },
        },
      ],
    },
  };
}
