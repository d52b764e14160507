import { canI } from "../cluster/access-review.js";
import { INSTALLED_RESOURCES, type InstalledResource } from "./installation.js";
import { failed, passed, type CheckResult } from "./result.js";

/** Whether the current user may create every kind of object the install creates (SelfSubjectAccessReviews). */
export async function installPermissionChecks(namespace: string): Promise<CheckResult[]> {
  return Promise.all(
    INSTALLED_RESOURCES.map(async (resource) => {
      const answer = await canI({
        verb: "create",
        group: resource.group,
        resource: resource.resource,
        ...(resource.namespaced ? { namespace } : {}),
      });
      return permissionCheck(resource, namespace, answer.allowed);
    }),
  );
}

/** One line for one kind: may the user create it where the install does. Pure. */
export function permissionCheck(
  resource: InstalledResource,
  namespace: string,
  allowed: boolean,
): CheckResult {
  const where = resource.namespaced ? ` in namespace ${namespace}` : "";
  const description = `can create ${resource.kind}s${where}`;
  const name = resource.group ? `${resource.resource}.${resource.group}` : resource.resource;
  return allowed
    ? passed("pre-k8s-permissions", description)
    : failed(
        "pre-k8s-permissions",
        description,
        `the current user may not create ${name}${where}`,
        `install Skiff as a cluster administrator (kubectl auth can-i create ${name}${resource.namespaced ? ` -n ${namespace}` : ""})`,
      );
}
