import { CONTROLLING_TERMINAL, Terminal } from './terminal.js'

/**
 * A `tokenPrompt` for restoreCredentialProvider(): asks for the MFA code on
 * the terminal at `path` (the controlling terminal by default), echo on —
 * a one-time code is no secret once used. Throws UsageError when there is
 * no terminal.
 */
export function terminalTokenPrompt(path: string = CONTROLLING_TERMINAL): (mfaSerial: string) => Promise<string> {
  return async (mfaSerial) => {
    const terminal = Terminal.open(path, 'an MFA code can only be typed on a terminal')
    try {
      return await terminal.readVisible(`MFA code for ${mfaSerial}: `)
    } finally {
      terminal.close()
    }
  }
}
