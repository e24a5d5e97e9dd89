import { closeSync, constants, lstatSync, mkdirSync, openSync } from 'node:fs'
import { realpath } from 'node:fs/promises'
import { displayPath } from '../protocol/path-codec.js'
import { BoundaryError, componentsKey, joinUnder } from './target-path.js'

/**
 * Linux O_PATH: an fd that names an inode without opening it for I/O (no
 * read permission needed, no side effects on devices or FIFOs). Node does
 * not export it; this is its value on every architecture Node supports.
 */
export const O_PATH = 0o10000000
const DIR_FLAGS = O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW
/** Flags to pin a non-directory inode without following a symlink at its name. */
export const PIN_FLAGS = O_PATH | constants.O_NOFOLLOW

/** Directories kept open at once; a sorted manifest needs only the current branch. */
const MAX_OPEN_DIRS = 256

/**
 * An open directory below (or at) the target, reached one component at a
 * time without following any symbolic link. Paths built with `at()` go
 * through `/proc/self/fd/N`, so the kernel resolves nothing above the
 * directory again: a component replaced on disk by a symlink after it was
 * opened cannot redirect a write. Callers release() what they acquire().
 */
export class DirHandle {
  refs = 0
  /** Set once closed (evicted): an acquirer that waited for it opens it again. */
  closed = false
  /**
   * @param made this restore created the directory (mode 0700, empty), so
   *   whatever is in it the restore put there: see inTheWay().
   */
  constructor(readonly key: string, readonly parts: readonly Buffer[], readonly fd: number, readonly made = false) {}

  /** A path reaching `name` in this directory, for this process (`/proc/self/fd/N/name`). */
  at(name: Buffer | string): Buffer {
    return Buffer.concat([Buffer.from(`/proc/self/fd/${this.fd}/`), typeof name === 'string' ? Buffer.from(name) : name])
  }

  /** The same path for a child process, which sees this process's descriptors under /proc/PID/fd. */
  forChild(name: Buffer | string): Buffer {
    return Buffer.concat([Buffer.from(`/proc/${process.pid}/fd/${this.fd}/`), typeof name === 'string' ? Buffer.from(name) : name])
  }

  /** A path reaching the directory itself (chmod/chown through it act on the directory, never a link). */
  self(): Buffer {
    return Buffer.from(`/proc/self/fd/${this.fd}`)
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    closeSync(this.fd)
  }
}

/** What to do about a missing directory on the way down. */
export type OnMissing =
  /** Fail with ENOENT. */
  | null
  /** Create it (mode 0700) and tell the callback which one was made. */
  | ((parts: readonly Buffer[]) => void)

/**
 * The target directory of a restore and the directories under it: the one
 * place where paths become open directories. Every component is opened
 * with O_PATH|O_DIRECTORY|O_NOFOLLOW relative to the one above it, so:
 * - a symlink where a directory is needed is refused (BoundaryError), never
 *   followed — whether the manifest or the disk put it there;
 * - a non-directory there is refused the same way;
 * - directories created on the way are made mode 0700, so nobody else can
 *   enter them until the restore sets their final mode.
 * Needs /proc (every Linux system, rescue systems included).
 */
export class TargetDirs {
  private readonly cache = new Map<string, DirHandle>()
  private readonly opening = new Map<string, Promise<DirHandle>>()

  private constructor(readonly root: string, private readonly rootHandle: DirHandle) {
    rootHandle.refs = 1 // never evicted
  }

  /**
   * Opens the target `dir` (the user named it: symlinks in it are
   * followed). Throws an fs error (ENOENT, ENOTDIR…) when it is not a
   * directory.
   */
  static async open(dir: string): Promise<TargetDirs> {
    const root = await realpath(dir)
    return new TargetDirs(root, new DirHandle('', [], openSync(root, O_PATH | constants.O_DIRECTORY)))
  }

  /** The target directory itself. Not to be released. */
  get rootDir(): DirHandle {
    return this.rootHandle
  }

  /** The absolute path on disk of components below the target, for messages and records. */
  where(parts: readonly Buffer[]): Buffer {
    return joinUnder(this.root, parts)
  }

  /**
   * The directory at `parts` below the target (the target itself for
   * none), opened and counted as in use until release(). Missing
   * directories are created when `onMissing` is given. Throws BoundaryError
   * for a symlink or non-directory on the way, an fs error otherwise.
   */
  async acquire(parts: readonly Buffer[], onMissing: OnMissing): Promise<DirHandle> {
    if (parts.length === 0) return this.rootHandle
    const key = componentsKey(parts)
    let handle = this.cache.get(key)
    if (handle === undefined) {
      let pending = this.opening.get(key)
      if (pending === undefined) {
        pending = this.openDir(key, parts, onMissing)
        this.opening.set(key, pending)
        pending.then(() => this.opening.delete(key), () => this.opening.delete(key))
      }
      handle = await pending
      // Evicted between being opened and this continuation running: open it again.
      if (handle.closed) return this.acquire(parts, onMissing)
    } else {
      // Most recently used last.
      this.cache.delete(key)
      this.cache.set(key, handle)
    }
    handle.refs++
    return handle
  }

  /** Counts one more use of a directory acquired already (released once more, too): it stays open until then. */
  retain(handle: DirHandle): void {
    if (handle !== this.rootHandle) handle.refs++
  }

  release(handle: DirHandle): void {
    if (handle === this.rootHandle) return
    handle.refs--
    if (handle.refs < 0) throw new Error(`DirHandle ${handle.key} released more often than acquired`)
  }

  private async openDir(key: string, parts: readonly Buffer[], onMissing: OnMissing): Promise<DirHandle> {
    const parent = await this.acquire(parts.slice(0, -1), onMissing)
    const name = parts[parts.length - 1]!
    try {
      const opened = this.openChild(parent, name, parts, onMissing)
      const dir = new DirHandle(key, parts, opened.fd, opened.made)
      this.cache.set(key, dir)
      this.evict()
      return dir
    } finally {
      this.release(parent)
    }
  }

  /** The directory `name` in `parent`, opened; `made` when this call created it. */
  private openChild(parent: DirHandle, name: Buffer, parts: readonly Buffer[], onMissing: OnMissing): { fd: number, made: boolean } {
    try {
      return { fd: openSync(parent.at(name), DIR_FLAGS), made: false }
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOENT' && onMissing !== null) {
        let made = false
        try {
          mkdirSync(parent.at(name), 0o700)
          made = true
          onMissing(parts)
        } catch (mkdirErr) {
          // Made meanwhile by a concurrent task of this restore: open it below.
          if ((mkdirErr as NodeJS.ErrnoException).code !== 'EEXIST') throw mkdirErr
        }
        return { fd: this.openChild(parent, name, parts, null).fd, made }
      }
      if (code === 'ENOTDIR' || code === 'ELOOP') throw this.notADirectory(parent, name, parts)
      throw err
    }
  }

  private notADirectory(parent: DirHandle, name: Buffer, parts: readonly Buffer[]): Error {
    const where = displayPath(this.where(parts))
    try {
      const st = lstatSync(parent.at(name))
      if (st.isSymbolicLink()) return new BoundaryError(`${where} is a symbolic link on disk; not followed`)
    } catch {
      // gone meanwhile: still not a directory we can use
    }
    return new BoundaryError(`${where} is not a directory on disk`)
  }

  /** Closes the least recently used directories not in use, down to the limit. */
  private evict(): void {
    if (this.cache.size <= MAX_OPEN_DIRS) return
    for (const [key, handle] of this.cache) {
      if (this.cache.size <= MAX_OPEN_DIRS) break
      if (handle.refs > 0) continue
      this.cache.delete(key)
      handle.close()
    }
  }

  /** Closes every directory. */
  close(): void {
    const handles = [...this.cache.values(), this.rootHandle]
    this.cache.clear()
    for (const handle of handles) handle.close()
  }
}
