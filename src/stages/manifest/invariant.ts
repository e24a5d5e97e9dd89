/**
 * Design invariant 2: a manifest is written only after every object it
 * references is stored and retained at least as long as the manifest
 * itself (until R). These checks decide, record by record, whether that
 * holds; the stage keeps an entry that fails but takes its reference away,
 * so the manifest never points at content that may not be there.
 */
import { RecordError } from '../../protocol/read-records.js'
import type { FileRecord, Rec, SnapshotRecord } from '../../protocol/records.js'

/** The fields that reference a stored version; removed from a record that fails the check. */
export const REFERENCE_FIELDS = ['key', 'versionId', 'retainUntil'] as const

/**
 * What is wrong with the stored content of a file entry, or null when it
 * is stored (`key` is `content/<sha256>`, with a `versionId`) and retained
 * until at least R.
 */
export function fileEntryProblem(rec: FileRecord, retainUntil: Date): string | null {
  if (rec.key === undefined) {
    return rec.sha256 === undefined ? 'content not hashed or stored (no sha256, no key)' : 'content not stored (no key)'
  }
  if (typeof rec.sha256 !== 'string' || rec.key !== `content/${rec.sha256}`) {
    return `key ${JSON.stringify(rec.key)} is not content/<sha256> of this entry`
  }
  if (typeof rec.versionId !== 'string' || rec.versionId === '') return `no versionId for ${rec.key}`
  return retentionProblem(rec.retainUntil, retainUntil, rec.key)
}

/** What is wrong with a snapshot's retention, or null when it is retained until at least R. */
export function snapshotProblem(rec: SnapshotRecord, retainUntil: Date): string | null {
  return retentionProblem(rec.retainUntil, retainUntil, rec.key)
}

function retentionProblem(value: unknown, retainUntil: Date, key: string): string | null {
  if (typeof value !== 'string') return `no retainUntil for ${key}`
  // The usual form (toISOString's) compares as text, without a Date per entry.
  if (CANONICAL_ISO.test(value) && value >= isoOf(retainUntil)) return null
  const date = new Date(value)
  if (Number.isNaN(date.getTime())) return `retainUntil ${JSON.stringify(value)} of ${key} is not a date`
  if (date.getTime() < retainUntil.getTime()) {
    return `${key} is retained until ${date.toISOString()}, before the manifest's ${retainUntil.toISOString()}`
  }
  return null
}

const CANONICAL_ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/

let lastDate: Date | undefined
let lastIso = ''
/** `date.toISOString()`, remembered for the one R a run checks against. */
function isoOf(date: Date): string {
  if (date !== lastDate) {
    lastDate = date
    lastIso = date.toISOString()
  }
  return lastIso
}

/** A copy of `rec` without the fields that reference a stored version. */
export function withoutReference<T extends Rec>(rec: T): T {
  const copy = { ...rec }
  for (const field of REFERENCE_FIELDS) delete copy[field]
  return copy
}

/**
 * Checks that a `snapshot` record has the fields the manifest needs to
 * describe it; throws RecordError (a protocol problem: exit 3) when not.
 * Its retention is checked separately (snapshotProblem).
 */
export function checkSnapshotFields(rec: Rec): asserts rec is SnapshotRecord {
  const missing = (field: string, what: string) => new RecordError(rec, `snapshot record: no ${what} "${field}"`)
  if (typeof rec.name !== 'string' || rec.name === '') throw missing('name', 'string')
  if (typeof rec.key !== 'string' || !rec.key.startsWith('snapshots/')) throw missing('key', 'snapshots/… string')
  if (typeof rec.versionId !== 'string' || rec.versionId === '') throw missing('versionId', 'string')
  if (!Number.isSafeInteger(rec.size) || (rec.size as number) < 0) throw missing('size', 'non-negative integer')
  if (typeof rec.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(rec.sha256)) throw missing('sha256', '64-hex-digit')
}
