/**
 * The object metadata Skiff reads and writes. The full type lives in
 * @kubernetes/client-node; this narrower one keeps generated API types free of
 * any client library, so pure code (compile, IR) can use them.
 */
export interface KubernetesObjectMetadata {
  name?: string;
  namespace?: string;
  uid?: string;
  generation?: number;
  resourceVersion?: string;
  creationTimestamp?: string;
  deletionTimestamp?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: {
    apiVersion: string;
    kind: string;
    name: string;
    uid: string;
    controller?: boolean;
    blockOwnerDeletion?: boolean;
  }[];
}
