import { spawn } from 'node:child_process'
import { closeSync, openSync, renameSync, unlinkSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { FatalError } from '../cli/errors.js'

/**
 * How ccrypt gets its key: as its key file, a pipe made by bash's process
 * substitution and fed from our descriptor 3. ccrypt must open the key
 * file by name, and Node's child pipes are socket pairs, which cannot be
 * opened through /dev/fd; `<(cat <&3)` turns ours into a real pipe.
 */
const KEY_PIPE_SCRIPT = 'exec "$1" --encrypt --quiet --keyfile <(exec cat <&3)'

/**
 * Encrypts `plaintext` with ccrypt(1) under `password` into `outPath`
 * (mode 0600). The cleartext goes through a pipe to ccrypt's stdin and
 * never touches the disk; the password goes through another pipe (see
 * KEY_PIPE_SCRIPT), so it appears neither on a command line (`-K`, seen by
 * ps), nor in the environment (`-E`), nor in a file. Decrypt with
 * `ccrypt -d` or `ccat`. Without `replace`, an existing file is an error;
 * with it, the old file is replaced atomically. Needs bash.
 */
export async function ccryptEncrypt(program: string, bash: string, plaintext: string, password: string, outPath: string, replace: boolean): Promise<void> {
  const target = replace ? join(dirname(outPath), `.${randomBytes(6).toString('hex')}.tmp`) : outPath
  let fd: number
  try {
    fd = openSync(target, 'wx', 0o600)
  } catch (err) {
    throw new FatalError(`${outPath}: cannot create: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
  }
  try {
    await run(program, bash, plaintext, password, fd)
  } catch (err) {
    closeSync(fd)
    unlinkSync(target)
    throw err
  }
  closeSync(fd)
  if (replace) renameSync(target, outPath)
}

function run(program: string, bash: string, plaintext: string, password: string, outFd: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(bash, ['-c', KEY_PIPE_SCRIPT, 'bash', program], { stdio: ['pipe', outFd, 'pipe', 'pipe'] })
    let stderr = ''
    child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
    child.on('error', (err) => reject(new FatalError(`${bash}: ${err.message}`)))
    child.on('close', (status, signal) => {
      if (status === 0) return resolve()
      reject(new FatalError(`ccrypt failed (${signal ?? `exit ${status}`}): ${stderr.trim().split('\n')[0] ?? ''}`))
    })
    const keyPipe = child.stdio[3] as NodeJS.WritableStream
    keyPipe.on('error', () => {})
    keyPipe.end(password + '\n')
    child.stdin!.on('error', () => {})
    child.stdin!.end(plaintext)
  })
}
