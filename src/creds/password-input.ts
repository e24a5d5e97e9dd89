import { read } from 'node:fs'
import { promisify } from 'node:util'
import type { OptionSpec, ParsedArgs } from '../cli/args.js'
import { UsageError } from '../cli/errors.js'
import { CONTROLLING_TERMINAL, Terminal } from './terminal.js'

const readFd = promisify(read)

/**
 * Where a password comes from. Never from a command-line argument or the
 * environment: both are visible to other users (ps, /proc/PID/environ) and
 * end up in shell history or child processes.
 *
 * - `fd`: read from this open file descriptor, up to the first newline or
 *   end of file (`--password-fd N`, for automation).
 * - `terminal`: asked on this terminal device with echo off (normally the
 *   controlling terminal, /dev/tty); a new password is asked twice.
 * - `buffer`: already in memory (library callers); copied, never zeroed here.
 */
export type PasswordSource = { fd: number } | { terminal: string } | { buffer: Uint8Array }

/** Longest password accepted, in bytes. */
export const MAX_PASSWORD_BYTES = 4096
/** Fewest characters a new package's password may have. */
export const MIN_NEW_PASSWORD_CHARS = 8

/** The option every command that reads a package password takes. */
export const PASSWORD_FD_OPTION: OptionSpec = {
  name: 'password-fd',
  type: 'number',
  arg: 'N',
  help: 'read the password from file descriptor N (up to a newline or end of file) instead of asking on the terminal',
}

/** The password source the command line asks for: `--password-fd N`, else the controlling terminal. */
export function passwordSourceFromArgs(args: ParsedArgs): PasswordSource {
  const fd = args.number('password-fd')
  if (fd === undefined) return { terminal: CONTROLLING_TERMINAL }
  if (!Number.isInteger(fd) || fd < 0) throw new UsageError(`option --password-fd: "${fd}" is not a file descriptor number`)
  return { fd }
}

export interface ReadPasswordOptions {
  /** Shown on the terminal, e.g. `Password for creds.pkg: `. */
  prompt: string
  /** A new password: asked twice on a terminal (must match), and at least MIN_NEW_PASSWORD_CHARS long. */
  isNew?: boolean
}

/**
 * Reads a password as bytes (UTF-8 as typed). The caller owns the returned
 * buffer and should zero it (`fill(0)`) as soon as the key is derived.
 * Throws UsageError for an empty, too long, too short (new) or mismatched
 * (new, terminal) password, a bad descriptor, or no terminal;
 * InterruptedError for Ctrl-C at the prompt.
 */
export async function readPassword(source: PasswordSource, options: ReadPasswordOptions): Promise<Buffer> {
  let password: Buffer
  if ('buffer' in source) {
    password = Buffer.from(source.buffer)
  } else if ('fd' in source) {
    password = await readPasswordFromFd(source.fd)
  } else {
    password = await readPasswordFromTerminal(source.terminal, options)
  }
  try {
    if (password.length === 0) throw new UsageError('empty password')
    if (options.isNew && utf8Length(password) < MIN_NEW_PASSWORD_CHARS) {
      throw new UsageError(`password too short: a package password needs at least ${MIN_NEW_PASSWORD_CHARS} characters`)
    }
    return password
  } catch (err) {
    password.fill(0)
    throw err
  }
}

/**
 * Reads from `fd` up to the first newline (not included; a `\r` before it
 * is dropped too) or end of file. Does not close the descriptor.
 */
export async function readPasswordFromFd(fd: number): Promise<Buffer> {
  // One spare byte tells "exactly MAX" from "longer"; reads go straight into this buffer so no stray copies remain.
  const buf = Buffer.alloc(MAX_PASSWORD_BYTES + 2)
  let length = 0
  try {
    for (;;) {
      let n: number
      try {
        ;({ bytesRead: n } = await readFd(fd, buf, length, buf.length - length, null))
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code
        // A non-blocking pipe with nothing in it yet: wait for the writer.
        if (code === 'EAGAIN') { await new Promise((r) => setTimeout(r, 20)); continue }
        if (code === 'EBADF') throw new UsageError(`--password-fd ${fd}: not an open file descriptor`)
        throw new UsageError(`--password-fd ${fd}: cannot read: ${code ?? (err as Error).message}`)
      }
      const start = length
      length += n
      const newline = buf.subarray(start, length).indexOf(0x0a)
      if (newline >= 0) { length = start + newline; break }
      if (n === 0) break
      if (length >= buf.length) throw new UsageError(`--password-fd ${fd}: password longer than ${MAX_PASSWORD_BYTES} bytes`)
    }
    if (length > 0 && buf[length - 1] === 0x0d) length--
    if (length > MAX_PASSWORD_BYTES) throw new UsageError(`--password-fd ${fd}: password longer than ${MAX_PASSWORD_BYTES} bytes`)
    return Buffer.from(buf.subarray(0, length))
  } finally {
    buf.fill(0)
  }
}

async function readPasswordFromTerminal(path: string, options: ReadPasswordOptions): Promise<Buffer> {
  const terminal = Terminal.open(path, 'give the password with --password-fd N')
  try {
    const first = await terminal.readHidden(options.prompt, MAX_PASSWORD_BYTES)
    if (!options.isNew) return first
    let second: Buffer | undefined
    try {
      second = await terminal.readHidden('Repeat the password: ', MAX_PASSWORD_BYTES)
      if (!first.equals(second)) throw new UsageError('the two passwords differ; nothing was written')
      return first
    } catch (err) {
      first.fill(0)
      throw err
    } finally {
      second?.fill(0)
    }
  } finally {
    terminal.close()
  }
}

/** Number of characters (code points) in UTF-8 bytes, without decoding them into a string. */
function utf8Length(bytes: Buffer): number {
  let count = 0
  for (const b of bytes) if ((b & 0xc0) !== 0x80) count++
  return count
}
