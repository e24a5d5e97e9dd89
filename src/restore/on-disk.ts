import { createHash } from 'node:crypto'
import { closeSync, constants, fstatSync, lstatSync, openSync, type BigIntStats } from 'node:fs'
import { BufferPool } from '../util/buffer-pool.js'
import { readAt } from '../util/fd-io.js'
import type { DirHandle } from './target-dirs.js'
import { PIN_FLAGS } from './target-dirs.js'

/** What is at a name already, from lstat (never following a symlink). */
export interface OnDisk {
  kind: 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block'
  st: BigIntStats
}

/** The parts of an inode's stat that identify it and its size: what a restored file is checked and linked by. */
export type Inode = Pick<BigIntStats, 'dev' | 'ino' | 'size'>

/** What is at `name` in `dir`, or null when nothing is. */
export function lookAt(dir: DirHandle, name: Buffer | string): OnDisk | null {
  const st = lstatSync(dir.at(name), { bigint: true, throwIfNoEntry: false })
  return st === undefined ? null : { kind: kindOf(st), st }
}

/**
 * What is in the way of restoring a file or special file at `name` in
 * `dir`: lookAt, but with no lstat in a directory this restore made
 * (DirHandle.made). That one was empty and mode 0700 when made, and holds
 * only what this restore put there since; so nothing is in the way. The
 * lstat, through /proc/self/fd, cost about 20 µs of the main thread per
 * file, 4% of a 20,000-file restore into an empty target. The one
 * difference: an input that names a path twice (two manifests joined) gets
 * it written twice there, the later last, where lookAt kept the later one
 * out when the first was finished by then. Two such entries close together
 * in the input ran at once and both found the name free even before.
 */
export function inTheWay(dir: DirHandle, name: Buffer | string): OnDisk | null {
  return dir.made ? null : lookAt(dir, name)
}

export function kindOf(st: BigIntStats): OnDisk['kind'] {
  if (st.isFile()) return 'file'
  if (st.isDirectory()) return 'dir'
  if (st.isSymbolicLink()) return 'symlink'
  if (st.isFIFO()) return 'fifo'
  if (st.isSocket()) return 'socket'
  if (st.isCharacterDevice()) return 'char'
  return 'block'
}

/** Flags to read a file that is there, without following a symlink or blocking on a FIFO. */
export const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK

/**
 * The regular file at `name`, open for reading (a descriptor), when it
 * holds exactly `size` bytes hashing to `sha256` (and, with `expect`, is
 * that very inode); else null. Opened with O_NOFOLLOW|O_NONBLOCK and
 * checked with fstat, so a symlink or FIFO put there is never read
 * through. The caller closes the descriptor (owner and mode can be set
 * through it).
 */
export async function openIfSameContent(dir: DirHandle, name: Buffer, sha256: string, size: number, expect?: BigIntStats): Promise<number | null> {
  let fd: number
  try {
    fd = openSync(dir.at(name), READ_FLAGS)
  } catch {
    return null
  }
  let same = false
  try {
    const st = fstatSync(fd, { bigint: true })
    if (!st.isFile() || st.size !== BigInt(size)) return null
    if (expect !== undefined && (st.ino !== expect.ino || st.dev !== expect.dev)) return null
    same = await hashOf(fd, size) === sha256
    return same ? fd : null
  } finally {
    if (!same) closeSync(fd)
  }
}

/** Whether the regular file at `name` holds exactly `size` bytes hashing to `sha256`. */
export async function hasContent(dir: DirHandle, name: Buffer, sha256: string, size: number): Promise<boolean> {
  const fd = await openIfSameContent(dir, name, sha256, size)
  if (fd === null) return false
  closeSync(fd)
  return true
}

/** Read buffers kept for reuse: a restore reads many files, and a fresh 1 MiB buffer each is garbage. Sixteen are kept. */
const BUFFER_BYTES = 1 << 20
const spare = new BufferPool(16 * BUFFER_BYTES)

/** A read buffer of 1 MiB from the spares; give it back with giveBuffer. */
export function takeBuffer(): Buffer {
  return spare.take(BUFFER_BYTES)
}

export function giveBuffer(buf: Buffer): void {
  spare.give(buf)
}

/** SHA-256 (hex) of the first `size` bytes of an open file (all of it when it is that long). */
async function hashOf(fd: number, size: number): Promise<string> {
  const hash = createHash('sha256')
  const buf = takeBuffer()
  try {
    for (let position = 0; ;) {
      const n = await readAt(fd, buf, 0, Math.min(buf.length, Math.max(size - position, 1)), position)
      if (n === 0) break
      hash.update(buf.subarray(0, n))
      position += n
    }
  } finally {
    giveBuffer(buf)
  }
  return hash.digest('hex')
}

/**
 * An O_PATH descriptor of the entry at `name`, which is not a symlink
 * (ELOOP-like refusal otherwise) and, when `expect` is given, is that very
 * inode. Through `/proc/self/fd/N` it is changed without any path lookup.
 * The caller closes it.
 */
export function pin(dir: DirHandle, name: Buffer | string, expect?: Inode): { fd: number, st: BigIntStats } {
  const fd = openSync(dir.at(name), PIN_FLAGS)
  try {
    const st = fstatSync(fd, { bigint: true })
    if (st.isSymbolicLink()) throw Object.assign(new Error('is a symbolic link'), { code: 'ELOOP' })
    if (expect !== undefined && (st.ino !== expect.ino || st.dev !== expect.dev)) {
      throw Object.assign(new Error('was replaced while it was being restored'), { code: 'ESTALE' })
    }
    return { fd, st }
  } catch (err) {
    closeSync(fd)
    throw err
  }
}

/** `/proc/self/fd/N` of a descriptor: the inode itself, for chmod and chown. */
export function selfPath(fd: number): Buffer {
  return Buffer.from(`/proc/self/fd/${fd}`)
}
