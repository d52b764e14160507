/**
 * The exit statuses of Skiff's offline commands (`validate`, `simulate`), as
 * tools such as grep and diff use them: 0 when all is well, 1 for findings
 * and invalid input (files, objects), 2 for a command line that is wrong.
 * `simulate` adds 3: the request is denied.
 */
export const EXIT_OK = 0;
export const EXIT_INVALID_INPUT = 1;
export const EXIT_USAGE = 2;

/** A command line that cannot be run: the command prints the message and its usage, and exits 2. */
export class UsageError extends Error {}
