import { createHash } from 'node:crypto'
import { constants, type BigIntStats } from 'node:fs'
import { lstat, open, type FileHandle } from 'node:fs/promises'
import type { DirHandle } from './target-dirs.js'
import { PIN_FLAGS } from './target-dirs.js'

/** What is at a name already, from lstat (never following a symlink). */
export interface OnDisk {
  kind: 'file' | 'dir' | 'symlink' | 'fifo' | 'socket' | 'char' | 'block'
  st: BigIntStats
}

/** What is at `name` in `dir`, or null when nothing is. */
export async function lookAt(dir: DirHandle, name: Buffer | string): Promise<OnDisk | null> {
  try {
    const st = await lstat(dir.at(name), { bigint: true })
    return { kind: kindOf(st), st }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
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

/**
 * Whether the regular file at `name` holds exactly `size` bytes hashing
 * to `sha256`. Opened with O_NOFOLLOW|O_NONBLOCK and checked with fstat,
 * so a symlink or FIFO put there is never read through.
 */
export async function hasContent(dir: DirHandle, name: Buffer, sha256: string, size: number): Promise<boolean> {
  let handle: FileHandle
  try {
    handle = await open(dir.at(name), constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
  } catch {
    return false
  }
  try {
    const st = await handle.stat()
    if (!st.isFile() || st.size !== size) return false
    const hash = createHash('sha256')
    const buf = Buffer.allocUnsafe(1 << 20)
    for (;;) {
      const { bytesRead } = await handle.read(buf, 0, buf.length, null)
      if (bytesRead === 0) break
      hash.update(buf.subarray(0, bytesRead))
    }
    return hash.digest('hex') === sha256
  } finally {
    await handle.close()
  }
}

/**
 * An O_PATH descriptor of the entry at `name`, which is not a symlink
 * (ELOOP-like refusal otherwise) and, when `expect` is given, is that very
 * inode. Through `/proc/self/fd/N` it is changed without any path lookup.
 */
export async function pin(dir: DirHandle, name: Buffer | string, expect?: BigIntStats): Promise<FileHandle> {
  const handle = await open(dir.at(name), PIN_FLAGS)
  try {
    const st = await handle.stat({ bigint: true })
    if (st.isSymbolicLink()) throw Object.assign(new Error('is a symbolic link'), { code: 'ELOOP' })
    if (expect !== undefined && (st.ino !== expect.ino || st.dev !== expect.dev)) {
      throw Object.assign(new Error('was replaced while it was being restored'), { code: 'ESTALE' })
    }
    return handle
  } catch (err) {
    await handle.close()
    throw err
  }
}

/** `/proc/self/fd/N` of a descriptor: the inode itself, for chmod and chown. */
export function selfPath(handle: FileHandle): Buffer {
  return Buffer.from(`/proc/self/fd/${handle.fd}`)
}
