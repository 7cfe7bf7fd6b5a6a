/** Exit codes and the error type commands throw for problems the user can fix. */

export const EXIT = {
  /** everything ran and passed */
  OK: 0,
  /** the command ran and found a problem (e.g. `zab sim`: an invariant violation) */
  FOUND: 1,
  /** bad command line: unknown option, invalid value, conflicting flags */
  USAGE: 2,
  /** the command could not do its work: a file could not be written, a worker process died */
  ERROR: 3,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** A problem with a message naming it and what to do; printed as `zab: error: <message>`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCode = EXIT.USAGE,
  ) {
    super(message);
    this.name = 'CliError';
  }
}
