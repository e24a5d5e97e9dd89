import { closeSync, fchmodSync, fchownSync, fsyncSync, lstatSync, mkdirSync, openSync, realpathSync, renameSync, statSync, chmodSync, chownSync, unlinkSync, writeSync } from 'node:fs'
import { dirname, isAbsolute, join, relative, sep } from 'node:path'
import { randomBytes } from 'node:crypto'
import { FatalError, UsageError } from '../cli/errors.js'

/** Owner of a planned entry: ids to set, and the names to show. */
export interface Owner {
  uid: number
  gid: number
  /** `user:group`, as shown by --dry-run. */
  label: string
}

export const ROOT_OWNER: Owner = { uid: 0, gid: 0, label: 'root:root' }

interface PlannedDir {
  kind: 'dir'
  path: string
  mode: number
  owner: Owner
}

interface PlannedFile {
  kind: 'file'
  path: string
  mode: number
  owner: Owner
  /** Filled in before apply(); may be unknown while planning (e.g. a key not made yet). */
  content?: string
}

export type PlannedEntry = PlannedDir | PlannedFile

/**
 * Files and directories to write under a root directory (`/`, or an image,
 * a package tree, a test directory). Paths are given as the target system
 * sees them (`/etc/backup/conf`) and written at `<root>/etc/backup/conf`.
 *
 * Contract: existing files are never replaced unless `force`; check()
 * finds them all before anything is written, so a refused run writes
 * nothing. Directories may already exist: their mode and owner are set.
 * Files are created with their final mode and owner before any byte is
 * written (a secret is never readable by others, not even for a moment),
 * and replaced (with force) by an atomic rename. A parent that resolves
 * outside the root (a symlink) is refused.
 */
export class RootFiles {
  readonly entries: PlannedEntry[] = []

  constructor(readonly root: string) {}

  /** Where a target path lands on this machine. */
  hostPath(target: string): string {
    if (!isAbsolute(target)) throw new UsageError(`${target}: must be an absolute path`)
    return join(this.root, target)
  }

  dir(path: string, mode: number, owner: Owner): void {
    this.entries.push({ kind: 'dir', path, mode, owner })
  }

  file(path: string, mode: number, owner: Owner, content?: string): PlannedFile {
    const entry: PlannedFile = { kind: 'file', path, mode, owner }
    if (content !== undefined) entry.content = content
    this.entries.push(entry)
    return entry
  }

  /** One line per entry: kind, host path, mode and owner (the --dry-run listing). */
  describe(entry: PlannedEntry): string {
    return `${entry.kind.padEnd(4)} ${this.hostPath(entry.path)} ${mode(entry.mode)} ${entry.owner.label}`
  }

  /** Throws UsageError naming every planned file that exists already (unless force). */
  check(force: boolean): void {
    const existing: string[] = []
    for (const entry of this.entries) {
      const host = this.hostPath(entry.path)
      const st = lstatOrNull(host)
      if (!st) continue
      if (entry.kind === 'dir' && !st.isDirectory()) throw new UsageError(`${host} exists and is not a directory`)
      if (entry.kind === 'file') {
        if (st.isDirectory()) throw new UsageError(`${host} exists and is a directory`)
        if (!force) existing.push(host)
      }
    }
    if (existing.length > 0) {
      throw new UsageError(`${existing.join(', ')} ${existing.length === 1 ? 'exists' : 'exist'} already; nothing written (--force replaces)`)
    }
  }

  /** Writes one entry (after check()); returns the line describing it. */
  apply(entry: PlannedEntry, force: boolean): string {
    const host = this.hostPath(entry.path)
    try {
      this.makeParents(host)
      if (entry.kind === 'dir') {
        if (!lstatOrNull(host)) mkdirSync(host, { mode: entry.mode })
        chownSync(host, entry.owner.uid, entry.owner.gid)
        chmodSync(host, entry.mode)
      } else {
        if (entry.content === undefined) throw new Error(`no content planned for ${entry.path}`)
        writeNewFile(host, entry.content, entry.mode, entry.owner, force)
      }
    } catch (err) {
      if (err instanceof UsageError || err instanceof FatalError) throw err
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EEXIST') throw new UsageError(`${host} exists already; --force replaces it`)
      throw new FatalError(`${host}: cannot write: ${code ?? (err as Error).message}`)
    }
    return this.describe(entry)
  }

  /** Creates missing parents (root-owned, 0755), refusing any that resolve outside the root. */
  private makeParents(host: string): void {
    const parent = dirname(host)
    mkdirSync(parent, { recursive: true, mode: 0o755 })
    const realRoot = realpathSync(this.root)
    const rel = relative(realRoot, realpathSync(parent))
    if (rel === '..' || rel.startsWith(`..${sep}`) || isAbsolute(rel)) {
      throw new UsageError(`${parent} leads outside ${this.root} (a symbolic link?); refusing to write there`)
    }
  }
}

/**
 * Creates `path` with its mode and owner set on the open descriptor before
 * writing. With `replace`, writes a temporary file beside it and renames it
 * over the old one; otherwise fails with EEXIST when the file exists.
 */
export function writeNewFile(path: string, content: string, mode: number, owner: Owner | null, replace: boolean): void {
  const target = replace ? join(dirname(path), `.${randomBytes(6).toString('hex')}.tmp`) : path
  const fd = openSync(target, 'wx', 0o600)
  try {
    if (owner) fchownSync(fd, owner.uid, owner.gid)
    fchmodSync(fd, mode)
    writeSync(fd, content)
    fsyncSync(fd)
  } catch (err) {
    closeSync(fd)
    unlinkSync(target)
    throw err
  }
  closeSync(fd)
  if (replace) {
    try {
      renameSync(target, path)
    } catch (err) {
      unlinkSync(target)
      throw err
    }
  }
}

/** `0644`-style text of a mode. */
export function mode(m: number): string {
  return m.toString(8).padStart(4, '0')
}

function lstatOrNull(path: string): ReturnType<typeof lstatSync> | null {
  try {
    return lstatSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
}

/** True when `path` is an existing directory. */
export function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory()
  } catch {
    return false
  }
}
