import type { ManifestDetails } from '../manifests/list-manifests.js'
import { openManifest } from '../manifests/read-manifest.js'
import { decodePath, displayPath } from '../protocol/path-codec.js'
import type { Rec } from '../protocol/records.js'
import { NotFoundError } from '../store/errors.js'
import { LOCK_MODES, type LockMode, type Store } from '../store/store.js'
import type { Finding, FindingSink } from './findings.js'
import type { ReferenceSet } from './reference-set.js'

/** Problem lines reported one by one; the rest are counted in one finding. */
const MAX_LINE_FINDINGS = 5

/** What reading one manifest showed. */
export interface ManifestSummary {
  key: string
  host: string
  entries: number
  files: number
  snapshots: number
  /** The run's retain-until, from the header (absent when the header lacks it). */
  retainUntil?: Date
  /** True when the manifest was read to its trailer, the digest matched and the trailer says complete. */
  sound: boolean
}

/**
 * Reads one manifest (one GetObject of the listed version) and checks it:
 * it parses, its digest and entry count match its trailer, the trailer says
 * the run was complete, and the manifest object itself is locked in the
 * run's mode until the run's retain-until (from the HeadObject already
 * made in `details`). Every content version and snapshot it references is
 * added to `refs` with what the manifest demands of it; they are checked
 * later, once for all manifests. `defaultMode` is the configured lock mode,
 * for a header that does not state one.
 */
export async function checkManifest(store: Store, details: ManifestDetails, refs: ReferenceSet, report: FindingSink, defaultMode: LockMode, now: Date): Promise<ManifestSummary> {
  const base = { host: details.host, manifest: details.key }
  const finding = (kind: Finding['kind'], detail: string, extra: Partial<Finding> = {}) =>
    report({ type: 'finding', kind, ...base, key: details.key, versionId: details.versionId, detail, ...extra })
  const summary: ManifestSummary = { key: details.key, host: details.host, entries: 0, files: 0, snapshots: 0, sound: false }

  let reader
  try {
    reader = await openManifest(store, details.key, details.versionId)
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err
    finding('missing', 'the manifest vanished while it was being verified')
    return summary
  }
  let badLines = 0
  let firstBad = ''
  let retainUntil: Date | undefined
  let mode: LockMode = defaultMode
  for await (const line of reader) {
    if (line.rec === undefined) {
      if (++badLines <= MAX_LINE_FINDINGS) finding('bad-manifest', `line ${line.line}: ${line.problem}`)
      else if (firstBad === '') firstBad = `line ${line.line}`
      continue
    }
    const rec = line.rec
    if (rec.type === 'header' && reader.header === rec) {
      retainUntil = dateOf(rec.retainUntil)
      if (retainUntil === undefined) finding('bad-manifest', `the header has no valid "retainUntil" (${JSON.stringify(rec.retainUntil)}): retention cannot be checked against it`)
      if (typeof rec.lockMode === 'string' && (LOCK_MODES as readonly string[]).includes(rec.lockMode)) mode = rec.lockMode as LockMode
      continue
    }
    if (rec.type === 'file' || rec.type === 'dir' || rec.type === 'symlink' || rec.type === 'special') summary.entries++
    if (rec.type === 'file') {
      summary.files++
      const problem = referenceProblem(rec, 'content/')
      if (problem !== null) {
        finding('missing', `${problem}: the backup has no stored content for it`, { key: undefined, versionId: undefined, path: pathOf(rec) })
      } else if (retainUntil !== undefined) {
        refs.add({ ...base, path: pathOf(rec), key: rec.key as string, versionId: rec.versionId as string, kind: 'content',
          ...(typeof rec.sha256 === 'string' && { sha256: rec.sha256 }), requiredUntil: retainUntil, requiredMode: mode })
      }
    } else if (rec.type === 'snapshot') {
      summary.snapshots++
      const name = typeof rec.name === 'string' ? `snapshot ${rec.name}` : 'a snapshot'
      const problem = referenceProblem(rec, 'snapshots/')
      if (problem !== null) {
        finding('missing', `${name}: ${problem}`, { key: undefined, versionId: undefined, path: name })
      } else if (retainUntil !== undefined) {
        refs.add({ ...base, path: name, key: rec.key as string, versionId: rec.versionId as string, kind: 'snapshot',
          ...(typeof rec.sha256 === 'string' && { sha256: rec.sha256 }), requiredUntil: retainUntil, requiredMode: mode })
      }
    }
  }
  if (badLines > MAX_LINE_FINDINGS) finding('bad-manifest', `${badLines - MAX_LINE_FINDINGS} more line(s) that are not records, from ${firstBad} on`)

  const verdict = reader.verdict()
  let sound = badLines === 0
  if (verdict.truncated !== undefined) {
    finding('bad-manifest', verdict.truncated)
    sound = false
  } else if (verdict.digest === 'mismatch') {
    finding('bad-manifest', 'the trailer\'s digest does not match the manifest\'s lines: it was altered after it was written')
    sound = false
  } else if (verdict.digest === 'absent') {
    finding('bad-manifest', 'the trailer carries no digest: the manifest cannot be checked for alteration')
    sound = false
  } else if (verdict.entriesCounted !== undefined && verdict.entriesCounted !== verdict.entriesRead) {
    finding('bad-manifest', `the trailer counts ${verdict.entriesCounted} entries but ${verdict.entriesRead} were read`)
    sound = false
  }
  if (verdict.backupComplete === false) {
    finding('incomplete', `the run did not complete${verdict.reason !== undefined ? `: ${verdict.reason}` : ''}`)
    sound = false
  } else if (!details.complete) {
    finding('incomplete', 'the manifest is stored as an incomplete run')
    sound = false
  }
  if (reader.header === undefined) finding('bad-manifest', 'the manifest has no header')

  // The manifest object itself must be locked as long as it promises its content is.
  if (retainUntil !== undefined) {
    summary.retainUntil = retainUntil
    const lockFinding = lockProblem({ mode: details.lockMode, retainUntil: details.retainUntil }, retainUntil, mode, now)
    if (lockFinding !== null) finding(lockFinding.kind, `the manifest itself: ${lockFinding.detail}`)
  }
  summary.sound = sound
  return summary
}

/** Why a file or snapshot record cannot be checked in the store (no key or version), or null. */
function referenceProblem(rec: Rec, prefix: string): string | null {
  if (typeof rec.key !== 'string' || !rec.key.startsWith(prefix)) return `no "${prefix}…" key recorded`
  if (typeof rec.versionId !== 'string' || rec.versionId === '') return `no version id recorded for ${rec.key}`
  return null
}

function pathOf(rec: Rec): string {
  try {
    return displayPath(decodePath(rec))
  } catch {
    return '(no valid path)'
  }
}

function dateOf(value: unknown): Date | undefined {
  if (typeof value !== 'string') return undefined
  const d = new Date(value)
  return Number.isNaN(d.getTime()) ? undefined : d
}

/**
 * The lock problem of a version retained as `actual` that must be retained
 * until `requiredUntil` in `requiredMode`, or null when it is fine. A
 * COMPLIANCE lock satisfies a GOVERNANCE requirement (it is stricter).
 */
export function lockProblem(actual: { mode?: LockMode | undefined, retainUntil?: Date | undefined }, requiredUntil: Date, requiredMode: LockMode, now: Date): { kind: 'unlocked' | 'under-retained' | 'wrong-mode', detail: string } | null {
  const required = requiredUntil.toISOString()
  if (actual.mode === undefined || actual.retainUntil === undefined) {
    return { kind: 'unlocked', detail: `no Object Lock retention; it must be retained until ${required}` }
  }
  if (actual.retainUntil.getTime() <= now.getTime() && requiredUntil.getTime() > now.getTime()) {
    return { kind: 'unlocked', detail: `its retention lapsed at ${actual.retainUntil.toISOString()}; it must be retained until ${required}` }
  }
  if (actual.retainUntil.getTime() < requiredUntil.getTime()) {
    return { kind: 'under-retained', detail: `retained until ${actual.retainUntil.toISOString()}, before the manifest's retain-until ${required}` }
  }
  if (requiredMode === 'COMPLIANCE' && actual.mode !== 'COMPLIANCE') {
    return { kind: 'wrong-mode', detail: `locked in ${actual.mode} mode; the run asked for COMPLIANCE` }
  }
  return null
}
