import type { FsPath } from '../protocol/path-codec.js'
import { componentsKey } from './target-path.js'
import type { DirEntry } from './restore-entry.js'

/** The final state of one directory, set at the end of the restore. */
export interface DirFinal {
  parts: readonly Buffer[]
  /** The manifest entry, when the directory was one the restore was asked for. */
  entry?: DirEntry
  /** The entry of a directory a --include/--exclude filter left out but that had to be created anyway. */
  unselected?: DirEntry
  /** Created by this restore (else it was there before). */
  created: boolean
}

/** Mode of a directory created on the way to an entry, with no entry of its own in the manifest. */
export const IMPLIED_DIR_MODE = 0o755

/**
 * What the restore must still do to directories. They are created as they
 * are met, mode 0700 (so nobody else can enter while files are written in
 * them), and get their final owner, mode, ACLs and times only at the end,
 * deepest first: writing inside a directory changes its modification
 * time, and a directory made read-only early could not be written into.
 * Memory: one item per directory of the restore.
 */
export class DirectoryPlan {
  private readonly dirs = new Map<string, DirFinal>()
  private readonly unselected = new Map<string, DirEntry>()

  /** A directory entry the restore was asked for. */
  noteEntry(entry: DirEntry): void {
    const key = componentsKey(entry.parts)
    const known = this.dirs.get(key)
    if (known !== undefined) known.entry = entry
    else this.dirs.set(key, { parts: entry.parts, entry, created: false })
  }

  /** A directory entry the filter left out: its metadata is used if it has to be created anyway. */
  noteUnselected(entry: DirEntry): void {
    this.unselected.set(componentsKey(entry.parts), entry)
  }

  /** A directory this restore created (an entry's own, or one on the way to it). */
  noteCreated(parts: readonly Buffer[]): void {
    const key = componentsKey(parts)
    const known = this.dirs.get(key)
    if (known !== undefined) known.created = true
    else this.dirs.set(key, { parts: [...parts], created: true })
  }

  /** Every directory to finish, deepest first (a descendant always sorts after its ancestors). */
  deepestFirst(): DirFinal[] {
    const keys = [...this.dirs.keys()].sort().reverse()
    return keys.map((key) => {
      const dir = this.dirs.get(key)!
      if (dir.entry === undefined) {
        const unselected = this.unselected.get(key)
        if (unselected !== undefined) dir.unselected = unselected
      }
      return dir
    })
  }

  get size(): number {
    return this.dirs.size
  }
}

/** The path to name in records for a directory to finish. */
export function dirPath(dir: DirFinal): FsPath | undefined {
  return dir.entry?.path ?? dir.unselected?.path
}
