/**
 * Findings: the problems `s3-sysbackup verify` reports, one record each
 * (documented in s3-sysbackup-verify(1) and sysbackup-records(5)).
 */

/** Every kind of finding, in the order the man page explains them. */
export const FINDING_KINDS = [
  /** A referenced version (content or snapshot) does not exist. */
  'missing',
  /** A referenced version, or the manifest itself, carries no retention, or its retention has lapsed. */
  'unlocked',
  /** Retained, but not until the manifest's own retain-until. */
  'under-retained',
  /** Locked in GOVERNANCE mode where the run asked for COMPLIANCE. */
  'wrong-mode',
  /** Downloaded bytes (--read-data) do not hash to what the manifest says. */
  'wrong-hash',
  /** A newer version with different bytes stands in front of the pinned content version. */
  'shadowed',
  /** A run that did not complete: an `.incomplete` manifest, or a trailer that says so. */
  'incomplete',
  /** The manifest is cut off, damaged, or its digest or counts do not match. */
  'bad-manifest',
  /** The host's newest complete backup is older than --max-age, or it has none. */
  'stale',
] as const

export type FindingKind = (typeof FINDING_KINDS)[number]

/** One problem found. Fields absent when they do not apply (e.g. `key` for a stale host). */
export interface Finding {
  type: 'finding'
  kind: FindingKind
  host: string
  /** Key of the manifest the problem belongs to (absent for a host with no backup at all). */
  manifest?: string
  /** The object concerned: a content or snapshot key, or the manifest's own key. */
  key?: string
  versionId?: string
  /** The first path (or snapshot name) in the manifest that references the object. */
  path?: string
  /** How many entries of the manifest reference the object (when more than one). */
  references?: number
  /** One line saying exactly what is wrong. */
  detail: string
}

/** Something that takes findings as they are made. */
export type FindingSink = (finding: Finding) => void

/** The human form of a finding: one line. */
export function formatFinding(f: Finding): string {
  const object = f.key === undefined ? '' : ` ${f.key}${f.versionId !== undefined ? `@${f.versionId}` : ''}`
  const where = f.manifest !== undefined && f.manifest !== f.key ? ` (${f.manifest}${f.path !== undefined ? `: ${f.path}` : ''}${f.references !== undefined && f.references > 1 ? ` and ${f.references - 1} more` : ''})` : ''
  return `${f.kind.toUpperCase()} ${f.host}${object}${where}: ${f.detail}\n`
}
