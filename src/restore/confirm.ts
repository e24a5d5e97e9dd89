import { CONTROLLING_TERMINAL, Terminal } from '../creds/terminal.js'

/** Asks a yes/no question; resolves true only for an explicit yes. */
export type Confirm = (question: string) => Promise<boolean>

/**
 * A Confirm that asks on the terminal at `path` (the controlling terminal
 * by default; prompts never go to stdout, which may carry records).
 * "y" or "yes" (any case) is yes; anything else, an empty line included,
 * is no. Throws UsageError when there is no terminal, naming `alternative`
 * (e.g. "give --yes").
 */
export function terminalConfirm(alternative: string, path: string = CONTROLLING_TERMINAL): Confirm {
  return async (question) => {
    const terminal = Terminal.open(path, alternative)
    try {
      const answer = await terminal.readVisible(`${question} [y/N] `)
      return /^\s*y(es)?\s*$/i.test(answer)
    } finally {
      terminal.close()
    }
  }
}

/** Whether this process has a controlling terminal to ask on. */
export function haveTerminal(path: string = CONTROLLING_TERMINAL): boolean {
  try {
    Terminal.open(path, '').close()
    return true
  } catch {
    return false
  }
}
