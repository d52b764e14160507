import {
  array,
  enumOf,
  integer,
  labelKey,
  labels,
  labelValue,
  map,
  object,
  string,
  titled,
  type Schema,
} from "../schema.js";
import type { CrdDefinition } from "../crd.js";

export const GROUP = "skiff.dev";
export const VERSION = "v1alpha1";
export const API_VERSION = `${GROUP}/${VERSION}`;
export const CATEGORIES = ["skiff"];

/** metav1.Condition, with the same validation the Kubernetes API types carry. */
export const condition: Schema = titled(
  "Condition",
  object(
    "A condition follows metav1.Condition: one aspect of the object's state, with when it last changed and why.",
    {
      type: string("Type of the condition in CamelCase, such as Ready, Accepted or Programmed.", {
        maxLength: 316,
        pattern:
          "^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])$",
      }),
      status: enumOf("Status of the condition: True, False or Unknown.", ["True", "False", "Unknown"]),
      observedGeneration: {
        ...integer(
          "The metadata.generation that the condition was set from. A condition older than the object's generation is stale.",
          { minimum: 0 },
        ),
        format: "int64",
      },
      lastTransitionTime: string("When the condition last changed from one status to another.", {
        format: "date-time",
      }),
      reason: string(
        "A CamelCase, machine-readable reason for the condition's last transition, such as BackendNotFound.",
        {
          minLength: 1,
          maxLength: 1024,
          pattern: "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$",
        },
      ),
      message: string("A human-readable message with details of the transition.", { maxLength: 32768 }),
    },
    { required: ["type", "status", "lastTransitionTime", "reason", "message"] },
  ),
);

export const conditions: Schema = array(
  "The current state of the object, one condition per aspect. Read them with `kubectl get` or `kubectl describe`.",
  condition,
  { maxItems: 8, "x-kubernetes-list-type": "map", "x-kubernetes-list-map-keys": ["type"] },
);

export const observedGeneration: Schema = {
  ...integer("The metadata.generation that the controller last processed.", { minimum: 0 }),
  format: "int64",
};

/** Istio's WorkloadSelector: match Pods by labels in the policy's namespace. */
export const workloadSelector = (what: string): Schema =>
  object(
    `Selects the workloads (Pods, by their labels, in this policy's namespace) that ${what} When omitted, it applies to every workload in the namespace, or in the whole mesh when the policy sits in the Mesh's root namespace.`,
    {
      matchLabels: labels("Pods whose labels include all of these are selected.", { minProperties: 1 }),
    },
    { required: ["matchLabels"] },
  );

/** metav1.LabelSelector. */
export const labelSelector = (description: string, defaultValue?: Record<string, unknown>): Schema =>
  object(
    `${description} A standard Kubernetes label selector: matchLabels and matchExpressions are ANDed; an empty selector matches everything.`,
    {
      matchLabels: labels("Objects whose labels include all of these pairs match."),
      matchExpressions: array(
        "Label requirements; all of them must hold.",
        object(
          "A label requirement.",
          {
            key: labelKey("The label key the requirement applies to."),
            operator: enumOf("How the key relates to the values.", ["In", "NotIn", "Exists", "DoesNotExist"]),
            values: array(
              "Values for In and NotIn (at least one); must be empty for Exists and DoesNotExist.",
              labelValue("One value the label may have."),
              { maxItems: 64, "x-kubernetes-list-type": "atomic" },
            ),
          },
          {
            required: ["key", "operator"],
            "x-kubernetes-validations": [
              {
                rule: "self.operator in ['In', 'NotIn'] ? has(self.values) && size(self.values) > 0 : !has(self.values) || size(self.values) == 0",
                message: "values must be non-empty for In and NotIn, and empty for Exists and DoesNotExist",
              },
            ],
          },
        ),
        { maxItems: 32, "x-kubernetes-list-type": "atomic" },
      ),
    },
    { "x-kubernetes-map-type": "atomic", ...(defaultValue ? { default: defaultValue } : {}) },
  );

const QUANTITY_PATTERN =
  "^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$";

const quantity: Schema = {
  description: "A Kubernetes quantity, such as 100m, 0.5 or 128Mi.",
  "x-kubernetes-int-or-string": true,
  pattern: QUANTITY_PATTERN,
};

/** corev1.ResourceRequirements (limits and requests). */
export const resourceRequirements = (what: string): Schema =>
  object(`Compute resources for ${what}, as in a container's resources field.`, {
    limits: map(
      "The most of each resource the container may use, such as cpu: 500m or memory: 256Mi.",
      quantity,
      {
        maxProperties: 16,
      },
    ),
    requests: map("The resources the scheduler reserves for the container.", quantity, { maxProperties: 16 }),
  });

/** CEL rules for a map keyed by port number, such as `portLevelMtls`. */
export const portNumberKey: Schema["x-kubernetes-validations"] = [
  {
    rule: "self.all(k, k.matches('^[0-9]{1,5}$') && int(k) >= 1 && int(k) <= 65535)",
    message: "keys must be port numbers from 1 to 65535",
  },
];

/** Reasons appear as the Reason column; this column shows the first condition that is not True, so a healthy object shows nothing and a broken one says why. */
export const reasonColumn = {
  name: "Reason",
  type: "string",
  jsonPath: '.status.conditions[?(@.status!="True")].reason',
  description: "The reason of the first condition that is not True; empty when all conditions hold.",
} as const;

export const conditionColumn = (type: string) =>
  ({
    name: type,
    type: "string",
    jsonPath: `.status.conditions[?(@.type=="${type}")].status`,
    description: `The status of the ${type} condition.`,
  }) as const;

export const ageColumn = {
  name: "Age",
  type: "date",
  jsonPath: ".metadata.creationTimestamp",
  description: "How long ago the object was created.",
} as const;

/**
 * A Skiff CRD: the group, version and categories they all share, and its
 * own columns followed by Reason and Age, so `kubectl get` reads alike for
 * every kind.
 */
export function skiffCrd(own: Omit<CrdDefinition, "group" | "version" | "categories">): CrdDefinition {
  return {
    group: GROUP,
    version: VERSION,
    categories: CATEGORIES,
    ...own,
    printerColumns: [...own.printerColumns, reasonColumn, ageColumn],
  };
}

/** A status that starts, as every Skiff kind's does, with observedGeneration and the conditions. */
export function conditionedStatus(description: string, fields: Record<string, Schema> = {}): Schema {
  return object(description, { observedGeneration, conditions, ...fields });
}
