import { createHash, type Hash } from 'node:crypto'
import { constants, fstatSync, lstatSync, openSync, type BigIntStats, type Stats } from 'node:fs'
import { closeQuietly, readAt } from '../../util/fd-io.js'
import { sha256Of } from '../../util/sha256.js'
import type { FsPath } from '../../protocol/path-codec.js'
import { GZIP_SAMPLE_BYTES, gzipPays } from './gzip-decision.js'
import { flock, type LockOutcome } from '../../util/flock.js'

/** Content read to its end, with what is known about how it was read. */
export interface ContentRead {
  kind: 'read'
  /** Lower-case hex SHA-256 of the bytes read. */
  sha256: string
  readSize: number
  gzip: boolean
  lock: LockOutcome
  /** fstat of the open file when reading began, and when it ended. */
  before: BigIntStats
  after: BigIntStats
  /** Wall-clock time reading began, nanoseconds since the epoch. */
  startedNs: bigint
}

/** Why a file was not read. */
export type NotRead =
  /** The path no longer exists (ENOENT, ENOTDIR). */
  | { kind: 'gone', code: string }
  /** The path is now something other than a regular file, e.g. "a directory". */
  | { kind: 'not-regular', what: string }
  /** lstat, open, fstat or read failed (EACCES, EIO…). */
  | { kind: 'failed', code: string, step: 'lstat' | 'open' | 'fstat' | 'read' }
  /** The stage was asked to stop. */
  | { kind: 'aborted' }

export type ReadOutcome = ContentRead | NotRead

export interface ReadOptions {
  /** Seconds to wait for the shared lock, in milliseconds. */
  lockTimeoutMs: number
  /** Scratch space for reading, reused across files; one per concurrent read. */
  buffer: Buffer
  signal?: AbortSignal
  /** Wall clock in nanoseconds since the epoch (injected by tests). */
  nowNs?: () => bigint
}

/**
 * O_NOFOLLOW: a path that became a symlink is not followed (ELOOP).
 * O_NONBLOCK: a path that became a FIFO opens at once instead of waiting for
 * a writer; regular-file reads ignore the flag.
 */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK
/** Keeps a backup from rewriting every file's atime; allowed for the owner and root. */
const NOATIME = constants.O_NOATIME ?? 0

export function wallClockNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n
}

/**
 * Reads the regular file at `path` to its end under a shared flock (waited
 * for up to `lockTimeoutMs`, then read without it), computing its SHA-256
 * and whether gzip pays. Never throws for a filesystem problem: each is a
 * NotRead outcome.
 *
 * The path is lstat'ed first, so nothing that is not a regular file (a
 * device whose open has side effects, a FIFO) is opened in the common case;
 * the fstat after opening catches what changed in between. The lstat, open,
 * fstats and close are synchronous; only the reads go through the thread
 * pool (see util/fd-io.ts for why).
 */
export async function readContent(path: FsPath, options: ReadOptions): Promise<ReadOutcome> {
  try {
    const st = lstatSync(path)
    if (!st.isFile()) return { kind: 'not-regular', what: describeType(st) }
  } catch (err) {
    return notReadOf(err, 'lstat')
  }
  const opened = openRegular(path)
  if (!('fd' in opened)) return opened
  try {
    return await readOpen(opened.fd, opened.stats, options)
  } finally {
    closeQuietly(opened.fd)
  }
}

/**
 * Opens `path` read-only without following a final symlink and without
 * blocking on a FIFO, and fstats it, synchronously (see util/fd-io.ts);
 * anything but a regular file is closed again and reported as
 * `not-regular`. The caller closes the descriptor returned.
 */
export function openRegular(path: FsPath): { fd: number, stats: BigIntStats } | NotRead {
  let fd: number
  try {
    fd = openNoAtime(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ELOOP') return { kind: 'not-regular', what: 'a symbolic link' }
    return notReadOf(err, 'open')
  }
  try {
    const stats = fstatSync(fd, { bigint: true })
    if (stats.isFile()) return { fd, stats }
    closeQuietly(fd)
    return { kind: 'not-regular', what: describeType(stats) }
  } catch (err) {
    closeQuietly(fd)
    return notReadOf(err, 'fstat')
  }
}

function openNoAtime(path: FsPath): number {
  if (NOATIME === 0) return openSync(path, OPEN_FLAGS)
  try {
    return openSync(path, OPEN_FLAGS | NOATIME)
  } catch (err) {
    // EPERM: O_NOATIME needs us to own the file (or CAP_FOWNER); read it the ordinary way.
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err
    return openSync(path, OPEN_FLAGS)
  }
}

async function readOpen(fd: number, opened: BigIntStats, options: ReadOptions): Promise<ReadOutcome> {
  const lock = await flock(fd, 'shared', options.lockTimeoutMs, options.signal)
  if (!lock.locked && lock.code === 'ABORTED') return { kind: 'aborted' }
  const nowNs = options.nowNs ?? wallClockNs
  const startedNs = nowNs()
  let before = opened
  // After a wait for the lock the file may have been written meanwhile: look again.
  if (!lock.locked || lock.waited) {
    try {
      before = fstatSync(fd, { bigint: true })
    } catch (err) {
      return notReadOf(err, 'fstat')
    }
  }

  const { buffer } = options
  const expectedSize = Number(before.size)
  /** Made only for a file that takes more than one read; one read's content is hashed in one call. */
  let hash: Hash | undefined
  let sha256: string | undefined
  let readSize = 0
  let gzip: boolean | undefined
  /** The first bytes, kept only while reads come shorter than the gzip sample. */
  let head: Buffer | undefined
  try {
    for (;;) {
      if (options.signal?.aborted) return { kind: 'aborted' }
      const bytesRead = await readAt(fd, buffer, 0, buffer.length, readSize)
      const chunk = buffer.subarray(0, bytesRead)
      readSize += bytesRead
      // A short read that reaches the size fstat gave is the end of the file,
      // which saves a read of 0 bytes per file; growth after it shows in the
      // fstat after reading.
      const atEnd = bytesRead === 0 || (bytesRead < buffer.length && readSize === expectedSize)
      if (atEnd && hash === undefined) sha256 = sha256Of(chunk)
      else (hash ??= createHash('sha256')).update(chunk)
      if (gzip === undefined) {
        const sample = head ? Buffer.concat([head, chunk.subarray(0, GZIP_SAMPLE_BYTES - head.length)]) : chunk.subarray(0, GZIP_SAMPLE_BYTES)
        if (sample.length === GZIP_SAMPLE_BYTES || atEnd) gzip = gzipPays(sample)
        else head = Buffer.from(sample) // a copy: the buffer is reused by the next read
      }
      if (atEnd) break
    }
  } catch (err) {
    return notReadOf(err, 'read')
  }
  let after: BigIntStats
  try {
    after = fstatSync(fd, { bigint: true })
  } catch (err) {
    return notReadOf(err, 'fstat')
  }
  return { kind: 'read', sha256: sha256 ?? hash!.digest('hex'), readSize, gzip: gzip!, lock, before, after, startedNs }
}

function notReadOf(err: unknown, step: 'lstat' | 'open' | 'fstat' | 'read'): NotRead {
  const code = (err as NodeJS.ErrnoException).code
  if (code === undefined) throw err // not a filesystem error: a bug, let the runner report it
  if (code === 'ENOENT' || code === 'ENOTDIR') return { kind: 'gone', code }
  return { kind: 'failed', code, step }
}

/** "a directory", "a FIFO"… for messages about a path that is not a regular file. */
export function describeType(st: Stats | BigIntStats): string {
  if (st.isDirectory()) return 'a directory'
  if (st.isSymbolicLink()) return 'a symbolic link'
  if (st.isFIFO()) return 'a FIFO'
  if (st.isSocket()) return 'a socket'
  if (st.isCharacterDevice()) return 'a character device'
  if (st.isBlockDevice()) return 'a block device'
  return 'something other than a regular file'
}
