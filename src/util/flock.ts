import { createRequire } from 'node:module'
import { setTimeout as sleep } from 'node:timers/promises'

// fs-ext is CommonJS without type declarations; this is the one call we use.
// Node has no flock(2) of its own.
const fsExt = createRequire(import.meta.url)('fs-ext') as { flockSync(fd: number, flags: 'shnb' | 'exnb'): void }

/** `shared` (LOCK_SH) for readers, `exclusive` (LOCK_EX) for a writer or a single runner. */
export type FlockMode = 'shared' | 'exclusive'

/**
 * How a lock attempt ended: `waited` when the first try failed;
 * `code` says why the lock was not had.
 */
export type LockOutcome = { locked: true, waited: boolean } | { locked: false, code: string }

/** First retry delay, and the cap of the doubling backoff between tries. */
const FIRST_DELAY_MS = 2
const MAX_DELAY_MS = 200

/**
 * Takes an advisory flock(2) on an open file, retrying with doubling delays
 * (2 ms up to 200 ms) until `timeoutMs` has passed (Infinity: until had).
 * Each try is non-blocking: a blocking flock would hold the event loop or a
 * libuv worker thread, and a few waiters could starve the holder of the
 * threads it needs to finish and unlock. The lock is released when the fd
 * is closed.
 *
 * Resolves `{locked: false, code: 'EWOULDBLOCK'}` when another process held
 * a conflicting lock the whole time, `{locked: false, code}` at once when
 * the filesystem cannot lock (ENOLCK, EOPNOTSUPP…), and `{locked: false,
 * code: 'ABORTED'}` when `signal` fires while waiting.
 */
export async function flock(fd: number, mode: FlockMode, timeoutMs: number, signal?: AbortSignal): Promise<LockOutcome> {
  const flags = mode === 'shared' ? 'shnb' : 'exnb'
  const deadline = performance.now() + timeoutMs
  let delay = FIRST_DELAY_MS
  for (let waited = false; ; waited = true) {
    try {
      fsExt.flockSync(fd, flags)
      return { locked: true, waited }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO'
      if (code !== 'EAGAIN' && code !== 'EWOULDBLOCK' && code !== 'EINTR') return { locked: false, code }
    }
    const left = deadline - performance.now()
    if (left <= 0) return { locked: false, code: 'EWOULDBLOCK' }
    if (signal?.aborted) return { locked: false, code: 'ABORTED' }
    try {
      await sleep(Math.min(delay, left), undefined, { signal })
    } catch {
      return { locked: false, code: 'ABORTED' }
    }
    delay = Math.min(delay * 2, MAX_DELAY_MS)
  }
}
