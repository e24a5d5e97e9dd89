import { closeSync, openSync, readFileSync, writeSync } from 'node:fs'
import { ReadStream } from 'node:tty'
import { UsageError, UserError } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'

/**
 * Reads a password from an open file descriptor (`--password-fd N`), for
 * automation: everything up to EOF, less one trailing newline. Never from
 * an argument, where `ps` would show it. Throws UsageError when the
 * descriptor cannot be read, or the password is empty or spans lines.
 */
export function readPasswordFromFd(fd: number): string {
  let text: string
  try {
    text = readFileSync(fd, 'utf8')
  } catch (err) {
    throw new UsageError(`--password-fd ${fd}: cannot read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  const password = text.replace(/\r?\n$/, '')
  if (password === '') throw new UsageError(`--password-fd ${fd}: empty password`)
  if (/[\r\n]/.test(password)) throw new UsageError(`--password-fd ${fd}: the password must be one line`)
  return password
}

/**
 * Asks for a new password on the controlling terminal (/dev/tty, so that
 * stdin and stdout stay free), twice, with echo off. Throws UsageError
 * when there is no terminal, the two differ, or the password is empty;
 * Ctrl-C gives exit status 130.
 */
export async function readNewPasswordFromTerminal(purpose: string): Promise<string> {
  let inFd: number
  let outFd: number
  try {
    inFd = openSync('/dev/tty', 'r')
    outFd = openSync('/dev/tty', 'w')
  } catch {
    throw new UsageError(`${purpose} needs a password, and there is no terminal to ask on: use --password-fd N`)
  }
  const input = new ReadStream(inFd)
  try {
    input.setRawMode(true)
    writeSync(outFd, `Password for ${purpose}: `)
    const first = await readLine(input)
    writeSync(outFd, '\nAgain: ')
    const second = await readLine(input)
    writeSync(outFd, '\n')
    if (first === '') throw new UsageError('empty password')
    if (first !== second) throw new UsageError('the two passwords differ')
    return first
  } finally {
    input.setRawMode(false)
    input.destroy()
    closeSync(outFd)
  }
}

/** One line typed in raw mode: Enter ends it, Backspace and Ctrl-U edit, Ctrl-C interrupts. */
function readLine(input: ReadStream): Promise<string> {
  return new Promise((resolve, reject) => {
    let chars: string[] = []
    const finish = (action: () => void) => {
      input.off('data', onData)
      input.pause()
      action()
    }
    const onData = (chunk: Buffer) => {
      for (const ch of chunk.toString('utf8')) {
        if (ch === '\r' || ch === '\n') return finish(() => resolve(chars.join('')))
        if (ch === '\u0003') return finish(() => reject(new UserError('interrupted', EXIT.INTERRUPTED)))
        if (ch === '\u0004') {
          if (chars.length === 0) return finish(() => reject(new UsageError('no password given')))
        } else if (ch === '\u007f' || ch === '\b') {
          chars = chars.slice(0, -1)
        } else if (ch === '\u0015') {
          chars = []
        } else {
          chars.push(ch)
        }
      }
    }
    input.on('data', onData)
    input.resume()
  })
}
