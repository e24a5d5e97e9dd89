import { encodePath, type FsPath } from '../protocol/path-codec.js'
import type { Rec } from '../protocol/records.js'

/**
 * What a restore did with one entry:
 * - `written`: a file's content (or a special file) was created;
 * - `replaced`: something different was there and was replaced (--overwrite);
 * - `linked`: made a hard link of an entry restored before it;
 * - `symlinked`: made a symbolic link;
 * - `dir`: a directory was created, or its owner, mode, ACLs and times set;
 * - `skipped`: already there and identical; owner, mode, ACLs and times re-applied;
 * - `kept`: something different is there and was left alone (no --overwrite): the restore is incomplete;
 * - `failed`: not restored; `reason` says why (an error record says it too);
 * - `would-write`: dry run — what a real run would write, and where (`to`).
 */
export type RestoreAction = 'written' | 'replaced' | 'linked' | 'symlinked' | 'dir' | 'skipped' | 'kept' | 'failed' | 'would-write'

/** The record a restore writes per entry (see sysbackup-restore(1), sysbackup-records(5)). */
export interface RestoreRecord extends Rec {
  type: 'restore'
  path?: string
  pathB64?: string
  /** The entry's type in the manifest: file, dir, symlink, special, or snapshot. */
  entry: string
  action: RestoreAction
  /** Why, for failed, kept and some skipped entries. */
  reason?: string
  /** Where on disk (dry runs, snapshots). */
  to?: string
  toB64?: string
  /** Bytes of content written (files, snapshots). */
  size?: number
}

/** The trailer counters of a restore, each documented in sysbackup-restore(1). */
export const RESTORE_COUNTERS = [
  'entries', 'files', 'dirs', 'symlinks', 'specials', 'snapshots',
  'written', 'replaced', 'linked', 'symlinked', 'dirsSet', 'skipped', 'kept', 'failed', 'wouldWrite', 'filtered',
  'bytesWritten', 'bytesDownloaded', 'copiedLocally', 'aclsSet', 'xattrsSet', 'xattrsDenied', 'dirsImplied', 'ownerDenied', 'restoreThroughRun',
] as const

export type RestoreCounter = (typeof RESTORE_COUNTERS)[number]

export function restoreRecord(path: FsPath, entry: string, action: RestoreAction, extra: Partial<RestoreRecord> = {}): RestoreRecord {
  return { type: 'restore', ...encodePath(path), entry, action, ...extra }
}
