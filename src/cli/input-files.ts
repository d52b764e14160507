import type { KubernetesObject } from "@kubernetes/client-node";
import { open, readdir, stat } from "node:fs/promises";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

/**
 * The largest file `skiff validate` and `skiff simulate` read. Parsing YAML
 * costs one to two seconds per MiB and some 40 bytes of memory per byte (a
 * 50 MB file took a minute and 1.9 GB), so 4 MiB stays within seconds and
 * a few hundred MB. It is more than the 3 MiB the API server takes in one
 * request, so no object the cluster could hold is refused.
 */
export const MAX_INPUT_FILE_BYTES = 4 * 1024 * 1024;

/** Files kustomize reads as configuration, not as objects. */
const NOT_OBJECTS = new Set(["kustomization.yaml", "kustomization.yml", "Kustomization"]);

/** A parsed object and the file it came from. */
export interface InputObject {
  readonly file: string;
  readonly object: KubernetesObject;
}

export interface InputFiles {
  /** The objects of every file that had no problem, in file order. */
  readonly objects: readonly InputObject[];
  /** One line per problem, each starting with the file or folder it is about. */
  readonly problems: readonly string[];
}

/**
 * Reads the objects of the YAML files that `-f` names.
 *
 * - A folder is read recursively: its `.yaml` and `.yml` files in name
 *   order, kustomization files left out. Symbolic links to folders are not
 *   followed, so a link cannot make a loop.
 * - A file must be UTF-8 text of at most {@link MAX_INPUT_FILE_BYTES}, parse
 *   as YAML, and hold at least one object; each document must be a mapping
 *   with `apiVersion` and `kind`, as kubectl requires.
 * - Every problem of every file is reported; a file with a problem gives no
 *   objects. Nothing is thrown for bad input.
 */
export async function readInputFiles(paths: readonly string[]): Promise<InputFiles> {
  const objects: InputObject[] = [];
  const problems: string[] = [];
  for (const path of paths) {
    for (const file of await filesOf(path, problems)) {
      const read = await readObjects(file);
      if (typeof read === "string") problems.push(`${file}: ${read}`);
      else objects.push(...read.map((object) => ({ file, object })));
    }
  }
  return { objects, problems };
}

/** The files a path names: itself, or the YAML files under a folder. Problems go to `problems`. */
async function filesOf(path: string, problems: string[]): Promise<string[]> {
  let isDirectory: boolean;
  try {
    isDirectory = (await stat(path)).isDirectory();
  } catch (error) {
    problems.push(`${path}: ${fileSystemProblem(error)}`);
    return [];
  }
  if (!isDirectory) return [path];
  const known = problems.length;
  const files = await yamlFilesUnder(path, problems);
  if (files.length === 0 && problems.length === known)
    problems.push(`${path}: no YAML files (.yaml, .yml) in the folder`);
  return files;
}

async function yamlFilesUnder(folder: string, problems: string[]): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(folder, { withFileTypes: true });
  } catch (error) {
    problems.push(`${folder}: ${fileSystemProblem(error)}`);
    return [];
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const files: string[] = [];
  for (const entry of entries) {
    const child = join(folder, entry.name);
    if (entry.isDirectory()) files.push(...(await yamlFilesUnder(child, problems)));
    else if (/\.ya?ml$/.test(entry.name) && !NOT_OBJECTS.has(entry.name) && (await isFile(entry, child)))
      files.push(child);
  }
  return files;
}

/** A regular file, or a link to one: never a folder (no loops) nor a device or pipe (no endless reads). */
async function isFile(
  entry: { isFile(): boolean; isSymbolicLink(): boolean },
  path: string,
): Promise<boolean> {
  if (entry.isFile()) return true;
  if (!entry.isSymbolicLink()) return false;
  try {
    return (await stat(path)).isFile();
  } catch {
    // A dangling link: reading it reports the problem.
    return true;
  }
}

/** The objects of one file, or what is wrong with it. */
async function readObjects(file: string): Promise<KubernetesObject[] | string> {
  let bytes: Buffer | undefined;
  try {
    bytes = await readAtMost(file, MAX_INPUT_FILE_BYTES);
  } catch (error) {
    return fileSystemProblem(error);
  }
  if (bytes === undefined)
    return `larger than ${MAX_INPUT_FILE_BYTES / 1024 / 1024} MiB, the limit for one input file: split it`;
  let text: string;
  try {
    if (bytes.includes(0)) throw new Error("NUL byte");
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return "not a text file: YAML must be UTF-8 text";
  }
  try {
    const objects: KubernetesObject[] = [];
    for (const [index, doc] of parseAllDocuments(text).entries()) {
      if (doc.errors.length > 0) return `not valid YAML: ${firstLine(doc.errors[0]!.message)}`;
      const value: unknown = doc.toJS();
      if (value === null || value === undefined) continue;
      if (!isKubernetesObject(value))
        return `document ${index + 1} is not a Kubernetes object: it needs apiVersion and kind`;
      objects.push(value);
    }
    return objects.length > 0 ? objects : "no objects in the file";
  } catch (error) {
    // The YAML library refuses, by throwing, what would cost too much (aliases
    // that expand without bound) or nests too deep for the stack.
    return `not valid YAML: ${firstLine(error instanceof Error ? error.message : String(error))}`;
  }
}

/** The file's bytes, or undefined when it has more than `limit`: never reads past `limit + 1`. */
async function readAtMost(file: string, limit: number): Promise<Buffer | undefined> {
  const handle = await open(file, "r");
  try {
    const buffer = Buffer.alloc(limit + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return length > limit ? undefined : buffer.subarray(0, length);
  } finally {
    await handle.close();
  }
}

function isKubernetesObject(value: unknown): value is KubernetesObject {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const { apiVersion, kind } = value as Record<string, unknown>;
  return typeof apiVersion === "string" && apiVersion !== "" && typeof kind === "string" && kind !== "";
}

/** A file system error in a few words, without Node's code and call. */
function fileSystemProblem(error: unknown): string {
  switch ((error as { code?: string }).code) {
    case "ENOENT":
      return "no such file or directory";
    case "EACCES":
    case "EPERM":
      return "permission denied";
    case "EISDIR":
      return "is a folder";
    case "ENOTDIR":
      return "a part of the path is not a folder";
    case "ELOOP":
      return "too many symbolic links";
    default:
      return `cannot be read (${(error as { code?: string }).code ?? String(error)})`;
  }
}

function firstLine(message: string): string {
  return message.split("\n", 1)[0]!.replace(/:$/, "");
}
