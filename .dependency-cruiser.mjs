/**
 * The layering of docs/ARCHITECTURE.md ("Data flows one way" and "Layout"),
 * checked by `make verify` (dependency-cruiser). Each rule names the
 * sentence it keeps; type-only imports count.
 */
const core = "^src/(ir|policy|compile|xds/translate|xds/cache)/";
const edges = "^src/(k8s|controllers|webhook|operator|cli|localnode|controlplane|agent)/";
// Kubernetes conventions that are pure functions: label selectors, text cut on code points.
const pureKubernetes = "^src/k8s/(selector|truncate)[.]ts$";

export default {
  forbidden: [
    {
      name: "no-circular",
      comment: "Import cycles: no module depends on itself through others.",
      severity: "error",
      from: {},
      to: { circular: true },
    },
    {
      name: "ir-is-plain-data",
      comment:
        "src/ir imports nothing from src/api, from any Kubernetes client or from the Envoy protos: only itself.",
      severity: "error",
      from: { path: "^src/ir/" },
      to: { pathNot: "^src/ir/" },
    },
    {
      name: "policy-evaluates-the-ir",
      comment: "src/policy is request evaluation over the IR, shared by simulate, analyze and tests.",
      severity: "error",
      from: { path: "^src/policy/" },
      to: { path: "^src/", pathNot: "^src/(ir|net|policy)/" },
    },
    {
      name: "translate-is-the-only-bridge-out",
      comment:
        "translate: IR -> Envoy resources, pure functions; it reads the IR, not the API or cluster state.",
      severity: "error",
      from: { path: "^src/xds/translate/" },
      to: { path: "^src/", pathNot: "^src/(ir|net|policy|mesh|xds/translate|xds/protos)/" },
    },
    {
      name: "analyze-is-pure",
      comment:
        "src/analyze (`skiff analyze` without the command line) is pure analyzers over a snapshot of objects: it reads the API types, compile, the IR, policy evaluation, the injector's pure rules and the shared vocabulary; never the CLI, controllers, the webhook or the xDS server.",
      severity: "error",
      from: { path: "^src/analyze/" },
      to: {
        path: "^src/",
        pathNot: ["^src/(analyze|api|compile|ir|policy|inject|mesh|net)/", pureKubernetes],
      },
    },
    {
      name: "compile-is-the-only-bridge-in",
      comment:
        "compile: cluster state -> mesh model; it knows nothing of Envoy, the xDS server or the processes around it.",
      severity: "error",
      from: { path: "^src/compile/" },
      to: { path: "^src/(xds|controllers|webhook|operator|cli|localnode|controlplane|agent|simulate)/" },
    },
    {
      name: "the-core-has-no-side-effects",
      comment: "compile and translate are pure; side effects sit in a few small places at the edges.",
      severity: "error",
      from: { path: core },
      to: { path: edges, pathNot: pureKubernetes },
    },
    {
      name: "the-vocabulary-is-at-the-bottom",
      comment:
        "src/mesh holds the names several processes share (labels, annotations, the sidecar's ports, the one-Mesh rule), src/net the one IP grammar: they import nothing else of Skiff.",
      severity: "error",
      from: { path: "^src/(mesh|net)/" },
      to: { path: "^src/", pathNot: "^src/(mesh|net)/" },
    },
    {
      name: "data-flows-one-way",
      comment:
        "Controllers write generated objects and the Mesh's status; the xDS process writes policy status and the Mesh's connectedProxies. Neither imports the other.",
      severity: "error",
      from: { path: "^src/controllers/" },
      to: { path: "^src/xds/" },
    },
    {
      name: "the-xds-process-reads-no-controller",
      comment: "The other half of data-flows-one-way.",
      severity: "error",
      from: { path: "^src/xds/" },
      to: { path: "^src/controllers/" },
    },
    {
      name: "the-command-line-is-on-top",
      comment: "src/cli is the `skiff` command line: it uses everything, nothing uses it.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/cli/" },
      to: { path: "^src/cli/" },
    },
    {
      name: "dev-and-test-only",
      comment:
        "src/localnode and src/controlplane serve `skiff dev` and the tests, never the operator or the xDS server.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/(cli|localnode|controlplane)/" },
      to: { path: "^src/(localnode|controlplane)/" },
    },
  ],
  options: {
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    exclude: { path: "^src/api/v1alpha1/generated/" },
  },
};
