import { EXIT } from '../cli/exit-status.js'
import type { Rec } from '../protocol/records.js'
import { estimateRequestCost, type RequestCost } from '../store/pricing.js'
import type { StageExit } from './stage-pipeline.js'
import { thousands } from '../util/thousands.js'

/** The outcome of an archive run, as printed at its end and by `--json`. */
export interface ArchiveSummary {
  /** `complete`: a complete manifest was stored; `incomplete`: an incomplete one; `failed`: none. */
  outcome: 'complete' | 'incomplete' | 'failed'
  exitStatus: number
  host: string
  runTime: string
  dryRun: boolean
  /** The stored manifest, when there is one. */
  manifest?: { key: string, versionId?: string, retainUntil?: string, digest?: string }
  /** Why the run is not complete. */
  reasons: string[]
  files: number
  entries: number
  /** File bytes read to hash or upload them. */
  bytesRead: number
  /** Bytes sent to the store for new content (after gzip). */
  bytesStored: number
  /** Distinct contents stored by this run. */
  contentsStored: number
  /** Files whose content was already stored. */
  contentsReused: number
  retentionExtended: number
  snapshots: number
  errors: number
  warnings: number
  /** S3 requests by API name, summed over every stage. */
  requests: Record<string, number>
  cost: RequestCost
  stages: StageExit[]
  elapsedSeconds: number
  /** Of elapsedSeconds, the time the upload limit held the content's uploads back (0 with no limit). */
  limitHeldSeconds: number
}

type Counts = Record<string, number>

/**
 * Builds the summary from the stages' exits and the sink's output (its
 * `manifest` record and the upstream trailers it carries). The outcome
 * follows what was stored, not only exit statuses: a run that stored an
 * incomplete manifest is `incomplete` (exit 1) even when a stage crashed;
 * a run that stored no manifest is `failed` (exit 3).
 */
export function summarize(input: {
  exits: StageExit[], sinkRecords: Rec[], host: string, runTime: string, dryRun: boolean, elapsedSeconds: number,
}): ArchiveSummary {
  const manifestRec = input.sinkRecords.find((r) => r.type === 'manifest')
  // The manifest record lists each upstream stage's trailer, and the store
  // requests of every stage (its own included), summed by API name.
  const stages = (Array.isArray(manifestRec?.stages) ? manifestRec.stages : []) as { producer?: string, counts?: Counts }[]
  const countsOf = (producer: string): Counts => stages.find((stage) => stage.producer === producer)?.counts ?? {}
  const requests: Counts = { ...((manifestRec?.requests ?? {}) as Counts) }
  const reasons: string[] = []
  for (const exit of input.exits) {
    if (exit.spawnError) reasons.push(`${exit.name} could not start: ${exit.spawnError}`)
    else if (exit.signal) reasons.push(`${exit.name} was killed by ${exit.signal}`)
    else if (exit.status !== 0) reasons.push(`${exit.name} exited with status ${exit.status}`)
  }
  const stored = manifestRec !== undefined && typeof manifestRec.key === 'string' && (input.dryRun || typeof manifestRec.versionId === 'string')
  const complete = stored && manifestRec!.complete === true
  if (manifestRec && manifestRec.complete !== true && typeof manifestRec.reason === 'string') reasons.unshift(manifestRec.reason)
  const outcome = complete && reasons.length === 0 ? 'complete' : stored ? 'incomplete' : 'failed'
  if (outcome === 'failed' && !reasons.length) reasons.push('no manifest was stored')
  const upload = countsOf('sysbackup-upload')
  const hash = countsOf('sysbackup-hash')
  const snap = countsOf('sysbackup-snap')
  const manifestCounts = (manifestRec?.counts ?? {}) as Counts
  const sum = (name: string) => stages.reduce((n, stage) => n + (stage.counts?.[name] ?? 0), 0)
  const summary: ArchiveSummary = {
    outcome,
    exitStatus: outcome === 'complete' ? EXIT.OK : outcome === 'incomplete' ? EXIT.INCOMPLETE : EXIT.FATAL,
    host: input.host,
    runTime: input.runTime,
    dryRun: input.dryRun,
    reasons,
    files: manifestCounts.files ?? upload.files ?? 0,
    entries: manifestCounts.entries ?? 0,
    bytesRead: (hash.bytesRead ?? 0) + (upload.bytesRead ?? 0),
    bytesStored: (upload.bytesStored ?? 0) + (snap.bytes ?? 0),
    contentsStored: (input.dryRun ? upload.wouldStore : upload.stored) ?? 0,
    contentsReused: upload.reused ?? 0,
    retentionExtended: (input.dryRun ? upload.wouldExtend : upload.extended) ?? 0,
    snapshots: snap.snapshots ?? manifestCounts.snapshots ?? 0,
    errors: sum('errors') + (manifestCounts.errors ?? 0),
    warnings: sum('warnings') + (manifestCounts.warnings ?? 0),
    requests,
    cost: estimateRequestCost(requests),
    stages: input.exits,
    elapsedSeconds: input.elapsedSeconds,
    limitHeldSeconds: (upload.limitHeldMs ?? 0) / 1000,
  }
  if (stored) {
    summary.manifest = { key: manifestRec!.key as string }
    for (const field of ['versionId', 'retainUntil', 'digest'] as const) {
      if (typeof manifestRec![field] === 'string') summary.manifest[field] = manifestRec![field] as string
    }
  }
  return summary
}

/** The human summary: a few plain lines, journald-friendly. */
export function formatSummary(s: ArchiveSummary): string {
  const n = thousands
  const lines: string[] = []
  const what = s.dryRun ? 'dry run' : s.outcome
  lines.push(s.manifest
    ? `archive: ${what}: ${s.manifest.key}${s.manifest.retainUntil ? ` (locked until ${s.manifest.retainUntil})` : ''}`
    : `archive: ${what}: no manifest stored`)
  for (const reason of s.reasons) lines.push(`  incomplete because: ${reason}`)
  lines.push(`  files ${n(s.files)} (entries ${n(s.entries)}), read ${formatBytes(s.bytesRead)}`)
  const storeVerb = s.dryRun ? 'would store' : 'stored'
  lines.push(`  ${storeVerb} ${n(s.contentsStored)} new contents (${formatBytes(s.bytesStored)} incl. snapshots), reused ${n(s.contentsReused)}, retention extended ${n(s.retentionExtended)}`)
  lines.push(`  snapshots ${n(s.snapshots)}, errors ${n(s.errors)}, warnings ${n(s.warnings)}`)
  const byKind = Object.entries(s.requests).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([api, c]) => `${api} ${n(c)}`).join(', ')
  lines.push(`  S3 requests: ${byKind || 'none'}; estimated cost $${s.cost.dollars.toFixed(6)} (S3 Standard list prices)`)
  const held = s.limitHeldSeconds > 0 ? `, ${s.limitHeldSeconds.toFixed(1)} s of it with uploads held back by the upload limit` : ''
  lines.push(`  time ${s.elapsedSeconds.toFixed(1)} s${held}`)
  return lines.join('\n') + '\n'
}

/** Bytes in binary units, one decimal. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let value = bytes
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${value} B` : `${value.toFixed(1)} ${units[unit]}`
}
