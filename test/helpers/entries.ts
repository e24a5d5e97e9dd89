import { lstatSync } from 'node:fs'
import { encodePath, type FsPath } from '../../src/protocol/path-codec.js'
import type { FileRecord, Rec } from '../../src/protocol/records.js'
import { wrapStream } from './io.js'

/**
 * The `file` record sysbackup-pick would write for the regular file at
 * `path` now (from a real lstat), with `extra` fields merged over it.
 * Owner names are left out: tests do not depend on /etc/passwd.
 */
export function fileRecord(path: FsPath, extra: Partial<FileRecord> = {}): FileRecord {
  const st = lstatSync(path, { bigint: true })
  if (!st.isFile()) throw new Error(`fileRecord: ${String(path)} is not a regular file`)
  return {
    type: 'file',
    ...encodePath(path),
    mode: (Number(st.mode) & 0o7777).toString(8).padStart(4, '0'),
    uid: Number(st.uid),
    gid: Number(st.gid),
    mtimeNs: String(st.mtimeNs),
    ctimeNs: String(st.ctimeNs),
    storageId: `${st.dev}:${st.ino}`,
    nlink: Number(st.nlink),
    size: Number(st.size),
    ...extra,
  }
}

/** A complete sysbackup-pick stream (header, records, trailer) of `records`. */
export function pickStream(records: Rec[], ok = true): Rec[] {
  return wrapStream('sysbackup-pick', records, ok)
}

/** NDJSON text of records, as a stage reads it. */
export function ndjson(records: Rec[]): string {
  return records.map((r) => JSON.stringify(r) + '\n').join('')
}
