/** --service-cluster-ip-range: where Services get their ClusterIPs. */
export const SERVICE_CLUSTER_IP_RANGE = "10.0.0.0/24";

/** The first address of that range, which the API server gives the `kubernetes` Service (a SAN of its certificate). */
export const KUBERNETES_SERVICE_IP = "10.0.0.1";
