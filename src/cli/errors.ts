import { EXIT } from './exit-status.js'

/**
 * An error the user can fix: its message is one complete line, shown as
 * `<tool>: <message>` with no stack trace, and it maps to an exit status.
 */
export class UserError extends Error {
  constructor(message: string, readonly exitStatus: number) {
    super(message)
  }
}

/** Bad command line: unknown option, missing argument, bad value. Exit 2. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, EXIT.USAGE)
  }
}

/** Bad or missing configuration; the message names the file and setting. Exit 2. */
export class ConfigError extends UserError {
  constructor(message: string) {
    super(message, EXIT.USAGE)
  }
}

/** A failure that aborts the run (storage refused, bucket missing…). Exit 3. */
export class FatalError extends UserError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, EXIT.FATAL)
    if (options?.cause !== undefined) this.cause = options.cause
  }
}

/**
 * The one-line text for any thrown value. A UserError gives its message;
 * anything else (a bug) gives its message and, when SYSBACKUP_DEBUG is set,
 * its stack.
 */
export function describeError(err: unknown, env: NodeJS.ProcessEnv = process.env): string {
  if (err instanceof UserError) return err.message
  if (err instanceof Error) {
    const code = (err as NodeJS.ErrnoException).code
    const text = code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message
    return env.SYSBACKUP_DEBUG ? `${text}\n${err.stack ?? ''}` : text
  }
  return String(err)
}

/** Exit status for a thrown value: its own for a UserError, FATAL otherwise. */
export function exitStatusOf(err: unknown): number {
  return err instanceof UserError ? err.exitStatus : EXIT.FATAL
}
