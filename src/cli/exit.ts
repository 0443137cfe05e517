/**
 * Exit codes of the client commands (`send`, `receive`) and the error that
 * carries one. Commands throw ExitError; cli.ts prints its message and exits.
 */

/** Distinct exit codes, documented in the README; never reused for another meaning. */
export const EXIT_CODES = {
  ok: 0,
  /** Something failed that has no code of its own (a send without receipt, an unwritable state file). */
  failure: 1,
  /** Bad command line or input file. */
  usage: 2,
  /** The relay answered 401/403, or the broker refused the login. */
  auth: 3,
  /** The relay refused the request (400 bad filter or Last-Event-ID, 404 wrong URL), or `send` refused an invalid body. */
  refused: 4,
  /** The relay or broker could not be reached in time. */
  unreachable: 5,
  /** Stopped by Ctrl-C (128 + SIGINT), as shells expect. */
  interrupted: 130,
  /** Stopped by SIGTERM (128 + SIGTERM). */
  terminated: 143,
} as const;

/** A command's outcome as an exit code, with one line for stderr (empty: print nothing). */
export class ExitError extends Error {
  constructor(
    readonly exitCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'ExitError';
  }
}

/** The exit code for a stop requested by `signal`. */
export function signalExitCode(signal: NodeJS.Signals): number {
  return signal === 'SIGTERM' ? EXIT_CODES.terminated : EXIT_CODES.interrupted;
}
