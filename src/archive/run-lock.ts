import { mkdirSync, openSync, readFileSync, writeSync, ftruncateSync, closeSync } from 'node:fs'
import { join } from 'node:path'
import { ConfigError, FatalError } from '../cli/errors.js'
import { flock } from '../util/flock.js'

/** The lock file in the state directory that keeps two archive runs of one machine apart. */
export const RUN_LOCK_FILE = 'archive.lock'

/**
 * Takes the machine's archive run lock: an exclusive flock(2) on
 * `<stateDir>/archive.lock`, waiting up to `waitSeconds` for a run that
 * holds it. The lock lives as long as the returned release function is not
 * called (and dies with the process, so a killed run never leaves a stale
 * lock). Our pid is written into the file so the message to a second run can
 * name the holder.
 *
 * Throws ConfigError when the state directory cannot be made, FatalError
 * (exit 3, nothing started) when another run keeps the lock.
 */
export async function takeRunLock(stateDir: string, waitSeconds: number, signal?: AbortSignal): Promise<() => void> {
  const path = join(stateDir, RUN_LOCK_FILE)
  let fd: number
  try {
    mkdirSync(stateDir, { recursive: true, mode: 0o700 })
    fd = openSync(path, 'a+', 0o600)
  } catch (err) {
    throw new ConfigError(`${path}: cannot open the archive run lock: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message} (see [state] dir)`)
  }
  const outcome = await flock(fd, 'exclusive', waitSeconds * 1000, signal)
  if (!outcome.locked) {
    const holder = readHolder(path)
    closeSync(fd)
    if (outcome.code === 'ABORTED') throw new FatalError('interrupted while waiting for the archive run lock')
    if (outcome.code !== 'EWOULDBLOCK') throw new ConfigError(`${path}: cannot lock: ${outcome.code}`)
    const waited = waitSeconds > 0 ? ` after waiting ${waitSeconds} s` : ''
    throw new FatalError(`another archive run${holder ? ` (pid ${holder})` : ''} holds ${path}${waited}; this run did not start (see --wait)`)
  }
  ftruncateSync(fd, 0)
  writeSync(fd, `${process.pid}\n`, 0)
  return () => closeSync(fd)
}

function readHolder(path: string): string | undefined {
  try {
    const text = readFileSync(path, 'utf8').trim()
    return /^\d+$/.test(text) ? text : undefined
  } catch {
    return undefined
  }
}
