import { closeSync, constants, fstatSync, linkSync, openSync, renameSync, unlinkSync, type BigIntStats } from 'node:fs'
import { sha256Of } from '../util/sha256.js'
import { setOwnerAndMode, type OwnerOutcome } from './entry-metadata.js'
import type { Fetched } from './fetch-content.js'
import { setFileTimes } from './fs-helper.js'
import { writeAllSync } from './sparse.js'
import type { Inode } from './on-disk.js'
import type { DirHandle } from './target-dirs.js'

/** Prefix of the temporary names a restore writes under; see tempNameFor. */
export const TEMP_PREFIX = '.sysbackup-restore-'

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW

/**
 * The temporary name a file is written under before it is renamed into
 * place: fixed for a given name, so a rerun after a killed restore finds
 * and replaces the leftover of the same entry rather than leaving it
 * behind: `.sysbackup-restore-` and 16 hex digits of the name's SHA-256.
 */
export function tempNameFor(name: Buffer): Buffer {
  return Buffer.from(TEMP_PREFIX + sha256Of(name).slice(0, 16))
}

/**
 * Creates the temporary file for `name` in `dir` (mode 0600), with
 * O_CREAT|O_EXCL|O_NOFOLLOW: nothing that is there is ever opened or
 * followed. A leftover at that name (from an interrupted restore, or
 * planted) is unlinked — unlink removes a symlink itself, never its
 * target — and creation is tried once more. Returns the descriptor.
 */
export function createTemp(dir: DirHandle, name: Buffer): { fd: number, temp: Buffer } {
  const temp = tempNameFor(name)
  try {
    return { fd: openSync(dir.at(temp), CREATE_FLAGS, 0o600), temp }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    unlinkSync(dir.at(temp))
    return { fd: openSync(dir.at(temp), CREATE_FLAGS, 0o600), temp }
  }
}

/** Removes a temporary file; nothing to do when it is gone. */
export function discardTemp(dir: DirHandle, temp: Buffer): void {
  try {
    unlinkSync(dir.at(temp))
  } catch {
    // gone already
  }
}

/** Owner, group and mode a written file gets, and its times when they can be set through its descriptor. */
export interface FileOwner {
  uid: number
  gid: number
  mode: number
  /** Set last, through the descriptor, when whole seconds (setFileTimes); else left to the caller, who sets them by path. */
  times?: { atimeNs: bigint, mtimeNs: bigint }
}

/** What writing a file did besides its content: the owner's outcome, the inode written, whether its times were set. */
export interface Committed {
  owner: OwnerOutcome
  st: Inode
  timesSet: boolean
}

/** Fills an empty file open for writing (a descriptor, written from offset 0) with verified content (see content-source.ts), or throws. */
export type Fill = (out: number) => Promise<Fetched>

/**
 * Writes one file: `fill` writes and verifies its content into a
 * temporary name in `dir`, then commitFile sets its owner, group, mode and
 * (when it can) times, and renames it over `name` — atomically replacing
 * whatever was there (a directory cannot be replaced: EISDIR). On any
 * failure the temporary file is removed and nothing at `name` has changed.
 */
export async function writeFile(dir: DirHandle, name: Buffer, fill: Fill, owner: FileOwner): Promise<Committed & { fetched: Fetched }> {
  const { fd, temp } = createTemp(dir, name)
  let fetched: Fetched
  try {
    fetched = await fill(fd)
  } catch (err) {
    abandon(dir, temp, fd)
    throw err
  }
  const committed = commitFile(dir, temp, name, fd, owner)
  return { fetched, owner: committed.owner, st: committed.st, timesSet: committed.timesSet }
}

/**
 * writeFile for content at hand, verified already: synchronous, so a
 * worker thread can make the whole file (decode-job.ts). `sparse`: whole
 * blocks of zeros are left as holes (sparse.ts).
 */
export function writeFileNow(dir: DirHandle, name: Buffer, data: Uint8Array, owner: FileOwner, sparse = false): Committed {
  const { fd, temp } = createTemp(dir, name)
  try {
    writeAllSync(fd, data, sparse)
  } catch (err) {
    abandon(dir, temp, fd)
    throw err
  }
  return commitFile(dir, temp, name, fd, owner)
}

/**
 * Finishes a file whose content is written at `temp` (open as `fd`):
 * owner, group and mode set on the descriptor, then its times (neither a
 * chown nor the rename changes a modification time), the descriptor
 * closed, and the file renamed over `name`. The descriptor is closed
 * either way; on failure `temp` is removed.
 */
function commitFile(dir: DirHandle, temp: Buffer, name: Buffer, fd: number, owner: FileOwner): Committed {
  let committed = false
  try {
    let st: BigIntStats
    let ownerSet: OwnerOutcome
    let timesSet = false
    try {
      st = fstatSync(fd, { bigint: true })
      ownerSet = setOwnerAndMode(fd, owner.uid, owner.gid, owner.mode, st)
      if (owner.times !== undefined) timesSet = setFileTimes(fd, owner.times.atimeNs, owner.times.mtimeNs)
    } finally {
      closeSync(fd)
    }
    renameSync(dir.at(temp), dir.at(name))
    committed = true
    return { owner: ownerSet, st, timesSet }
  } finally {
    if (!committed) discardTemp(dir, temp)
  }
}

/** Closes and removes a temporary file that will not be committed. */
function abandon(dir: DirHandle, temp: Buffer, fd: number): void {
  try {
    closeSync(fd)
  } finally {
    discardTemp(dir, temp)
  }
}

/**
 * Makes `name` in `dir` a hard link of the file at `fromName` in `fromDir`
 * (link(2) never follows a symlink at the source). When `replace` is set,
 * the link is made at the temporary name and renamed over what is there.
 */
export function linkFile(fromDir: DirHandle, fromName: Buffer, dir: DirHandle, name: Buffer, replace: boolean): void {
  if (!replace) {
    linkSync(fromDir.at(fromName), dir.at(name))
    return
  }
  const temp = tempNameFor(name)
  discardTemp(dir, temp)
  linkSync(fromDir.at(fromName), dir.at(temp))
  try {
    renameSync(dir.at(temp), dir.at(name))
  } catch (err) {
    discardTemp(dir, temp)
    throw err
  }
}
