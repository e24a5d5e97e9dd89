import { closeSync, constants, fstatSync, linkSync, openSync, renameSync, unlinkSync, type BigIntStats } from 'node:fs'
import { setOwnerAndMode, type OwnerOutcome } from './entry-metadata.js'
import type { Fetched } from './fetch-content.js'
import type { DirHandle } from './target-dirs.js'
import { sha256Of } from '../util/sha256.js'

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

/** Owner, group and mode a written file gets, and optionally its times. */
export interface FileOwner {
  uid: number
  gid: number
  mode: number
  /** Sets the file's times through its descriptor, last before it is closed; false when they must be set by path afterwards. */
  times?: (fd: number) => boolean
}

/** Fills an empty file open for writing (a descriptor, written from offset 0) with verified content (see content-source.ts), or throws. */
export type Fill = (out: number) => Promise<Fetched>

/**
 * Writes one file: `fill` writes and verifies its content into a
 * temporary name in `dir`, owner, group and mode (and times, when
 * `owner.times` can) are set on the open descriptor, then it is renamed
 * over `name` — atomically replacing whatever was there (a directory
 * cannot be replaced: EISDIR). On any failure the temporary file is
 * removed and nothing at `name` has changed. `timesSet` says whether the
 * times were set.
 */
export async function writeFile(dir: DirHandle, name: Buffer, fill: Fill, owner: FileOwner): Promise<{ fetched: Fetched, owner: OwnerOutcome, st: BigIntStats, timesSet: boolean }> {
  const { fd, temp } = createTemp(dir, name)
  let committed = false
  try {
    let fetched: Fetched
    let ownerSet: OwnerOutcome
    let st: BigIntStats
    let timesSet = false
    try {
      fetched = await fill(fd)
      st = fstatSync(fd, { bigint: true })
      ownerSet = setOwnerAndMode(fd, owner.uid, owner.gid, owner.mode, st)
      // Neither the owner's change nor the rename changes a modification time.
      if (owner.times !== undefined) timesSet = owner.times(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(dir.at(temp), dir.at(name))
    committed = true
    return { fetched, owner: ownerSet, st, timesSet }
  } finally {
    if (!committed) discardTemp(dir, temp)
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
