/**
 * Exit statuses shared by every command, ordered by severity so a wrapper
 * can return the worst of its stages (as `set -o pipefail` would). Each man
 * page's EXIT STATUS section lists them.
 */
export const EXIT = {
  /** Everything asked for was done. */
  OK: 0,
  /** Done, but with per-item errors or a cut-off input: the backup or restore is incomplete. */
  INCOMPLETE: 1,
  /** Usage or configuration error; nothing was done. */
  USAGE: 2,
  /** A fatal error (invalid input stream, storage refused, …) aborted the run. */
  FATAL: 3,
  /** Interrupted by SIGINT or SIGTERM. */
  INTERRUPTED: 130,
} as const

export type ExitStatus = (typeof EXIT)[keyof typeof EXIT]

/** The more severe of two exit statuses. Unknown codes (a crashed child) count as FATAL. */
export function worstExit(a: number, b: number): number {
  return severity(a) >= severity(b) ? a : b
}

function severity(code: number): number {
  switch (code) {
    case EXIT.OK: return 0
    case EXIT.INCOMPLETE: return 1
    case EXIT.USAGE: return 2
    case EXIT.FATAL: return 3
    case EXIT.INTERRUPTED: return 4
    default: return 3.5
  }
}
