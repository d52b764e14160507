/**
 * The local node runs no container runtime: an image is a name for a program
 * already on this machine. This is the table of those names, and the one
 * place that decides what a container's command line becomes.
 */

/** A program that stands for an image: its binary and the image's default CMD. */
export interface LocalImage {
  /** What the image's ENTRYPOINT runs, as argv (a binary, maybe with leading arguments). */
  entrypoint: string[];
  /** The image's CMD: the arguments used when the container gives neither command nor args. */
  defaultArgs: string[];
  /** Names under which the image's own binary may appear as a container's command[0]. */
  programNames: string[];
  /** The image's USER (its uid), used when the Pod sets no runAsUser. */
  user: number;
  /** Why the image cannot run here although the node knows it (its program is not built). */
  unavailable?: string;
  /** The image's WORKDIR, used when the container names none. */
  workingDir?: string;
  /** Folders of this machine that make up the image's filesystem, bound at these paths in the container. */
  contents?: { source: string; target: string }[];
}

/** Which images this node can run, by repository (the part before ":" or "@"). */
export type ImageTable = ReadonlyMap<string, LocalImage>;

export type ResolvedCommand =
  | { kind: "run"; argv: string[]; user: number; image: LocalImage }
  | { kind: "error"; reason: "ErrImagePull" | "RunContainerError"; message: string };

/** The repository part of an image reference: `fortio/fortio:1.75` → `fortio/fortio`. */
export function imageRepository(image: string): string {
  const withoutDigest = image.split("@")[0] ?? image;
  const lastSlash = withoutDigest.lastIndexOf("/");
  const colon = withoutDigest.indexOf(":", lastSlash + 1);
  const repository = colon === -1 ? withoutDigest : withoutDigest.slice(0, colon);
  // docker.io/library/x and docker.io/x are the same image as x.
  return repository.replace(/^docker\.io\//, "").replace(/^library\//, "");
}

/**
 * The argv a container runs, with Kubernetes' rules for command and args:
 * `command` replaces the ENTRYPOINT and `args` the CMD; `command` without
 * `args` drops the CMD. A `command[0]` naming the image's own program is
 * that program here; any other command[0] must exist on this machine
 * (`lookup` says where), since the Pod shares the node's filesystem.
 * `$(VAR)` references are already expanded by the caller.
 */
export function resolveCommand(
  table: ImageTable,
  container: { image?: string; command?: string[]; args?: string[] },
  lookup: (program: string) => string | undefined,
): ResolvedCommand {
  const image = container.image ?? "";
  const local = table.get(imageRepository(image));
  if (!local) {
    const known = [...table.keys()].sort().join(", ");
    return {
      kind: "error",
      reason: "ErrImagePull",
      message: `image "${image}" is not available on the local node, which runs only these images: ${known}`,
    };
  }
  if (local.unavailable) return { kind: "error", reason: "ErrImagePull", message: local.unavailable };
  if (!container.command?.length)
    return {
      kind: "run",
      argv: [...local.entrypoint, ...(container.args ?? local.defaultArgs)],
      user: local.user,
      image: local,
    };
  const [program, ...rest] = container.command as [string, ...string[]];
  const base = program.slice(program.lastIndexOf("/") + 1);
  const found = local.programNames.includes(base)
    ? local.entrypoint
    : [lookup(program)].filter((p) => p !== undefined);
  if (found.length === 0)
    return {
      kind: "error",
      reason: "RunContainerError",
      message: `command "${program}" is neither ${local.programNames.join(" nor ")} nor a program on the local node`,
    };
  return {
    kind: "run",
    argv: [...found, ...rest, ...(container.args ?? [])],
    user: local.user,
    image: local,
  };
}

/**
 * Kubernetes' `$(VAR)` expansion in command, args and env values: a reference
 * to a defined variable is replaced, `$$` escapes a `$`, and a reference to
 * an undefined variable stays as written.
 */
export function expandVariables(value: string, env: ReadonlyMap<string, string>): string {
  return value.replace(/\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)/g, (whole, name: string | undefined) => {
    if (name === undefined) return "$";
    return env.get(name) ?? whole;
  });
}
