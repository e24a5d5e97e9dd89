import type { BigIntStats } from 'node:fs'
import { RecordError } from '../../protocol/read-records.js'
import type { FileRecord, Rec } from '../../protocol/records.js'

/**
 * What identifies one version of a file's content without reading it: the
 * inode (`storageId`, `<dev>:<ino>`), the size, and the modification and
 * status-change times in nanoseconds. Any write to the file changes mtime
 * and ctime; a file replaced by another (rename over it) changes the inode.
 */
export interface FileIdentity {
  storageId: string
  size: number
  mtimeNs: string
  ctimeNs: string
}

/**
 * The files-cache key of an identity: the four fields joined by spaces. It
 * is also the first part of a cache line, so saving needs no formatting.
 *
 * Made by a join, which gives one flat string: a template gave a chain of
 * concatenations that V8 keeps as it is, ~200 bytes more per key. The
 * cache holds a key per file a run reads (5 MB of chains in the bench's
 * 20,000-file first run).
 */
export function identityKey(id: FileIdentity): string {
  return [id.storageId, id.size, id.mtimeNs, id.ctimeNs].join(' ')
}

/** The identity of what an open file descriptor refers to, from its fstat. */
export function identityOfStats(st: BigIntStats): FileIdentity {
  return { storageId: `${st.dev}:${st.ino}`, size: Number(st.size), mtimeNs: String(st.mtimeNs), ctimeNs: String(st.ctimeNs) }
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  return a.storageId === b.storageId && a.size === b.size && a.mtimeNs === b.mtimeNs && a.ctimeNs === b.ctimeNs
}

const STORAGE_ID = /^\d+:\d+$/
const NANOSECONDS = /^\d+$/

/**
 * The identity a `file` record claims, checked. Throws RecordError when a
 * field hash needs is missing or malformed (the reader has already checked
 * path, mode and size).
 */
export function identityOfRecord(rec: Rec): FileIdentity {
  const file = rec as Partial<FileRecord>
  if (typeof file.storageId !== 'string' || !STORAGE_ID.test(file.storageId)) {
    throw new RecordError(rec, 'file record: "storageId" is not "<dev>:<ino>"')
  }
  for (const field of ['mtimeNs', 'ctimeNs'] as const) {
    if (typeof file[field] !== 'string' || !NANOSECONDS.test(file[field])) {
      throw new RecordError(rec, `file record: "${field}" is not a decimal string of nanoseconds`)
    }
  }
  for (const field of ['uid', 'gid'] as const) {
    if (!Number.isSafeInteger(file[field]) || file[field]! < 0) {
      throw new RecordError(rec, `file record: "${field}" is not a non-negative integer`)
    }
  }
  return { storageId: file.storageId, size: file.size!, mtimeNs: file.mtimeNs!, ctimeNs: file.ctimeNs! }
}

/**
 * The record updated to describe the inode that was actually read: identity,
 * mode, owner and link count from its fstat. An owner or group name is
 * dropped when its id changed, since the name picked belonged to the old id
 * (restore then uses the numeric id, which is right on this machine).
 */
export function updatedFromStats(rec: FileRecord, st: BigIntStats): FileRecord {
  const uid = Number(st.uid)
  const gid = Number(st.gid)
  const out: FileRecord = {
    ...rec,
    ...identityOfStats(st),
    mode: (Number(st.mode) & 0o7777).toString(8).padStart(4, '0'),
    uid,
    gid,
    nlink: Number(st.nlink),
  }
  if (uid !== rec.uid) delete out.user
  if (gid !== rec.gid) delete out.group
  return out
}
