import { listManifests, type ManifestListing } from '../manifests/list-manifests.js'
import { openManifest } from '../manifests/read-manifest.js'
import { parseManifestKey } from '../manifests/manifest-key.js'
import { NotFoundError } from '../store/errors.js'
import type { Store } from '../store/store.js'
import { formatDuration } from './duration.js'
import type { FindingSink } from './findings.js'

/** Which backups to verify. */
export interface BackupSelection {
  /** Exactly this manifest, complete or not. */
  key?: string
  /** Only these hosts (default: every host with a manifest in the store). */
  hosts?: string[]
  /** The newest complete backup at or before this time (with `all`: every one up to it). */
  at?: Date
  /** Every complete backup of the chosen hosts, not only the newest. */
  all?: boolean
  /** Flag a host whose newest complete backup (at or before `at`) is older than this (milliseconds). */
  maxAgeMs?: number
}

/** The chosen manifests, and the hosts they were chosen among. */
export interface ChosenBackups {
  manifests: ManifestListing[]
  hosts: string[]
}

/**
 * Chooses the manifests to verify and reports what the choice itself shows
 * about each host: `stale` when its newest complete backup is older than
 * `maxAgeMs` (or it has none), and `incomplete` for every incomplete run
 * after its newest complete one (with the reason its trailer gives: one
 * GetObject each), so a monitoring check sees failed nightly runs even
 * while an older backup is still sound. With `key`, that manifest only.
 * Cost: one ListObjectsV2 per 1000 manifests (of each chosen host, or of all).
 */
export async function chooseBackups(store: Store, sel: BackupSelection, now: Date, report: FindingSink): Promise<ChosenBackups> {
  if (sel.key !== undefined) {
    const info = parseManifestKey(sel.key)!
    const { manifests } = await listManifests(store, info.host)
    const found = manifests.find((m) => m.key === sel.key)
    if (found === undefined) {
      report({ type: 'finding', kind: 'missing', host: info.host, manifest: sel.key, key: sel.key, detail: 'no such manifest in the store' })
      return { manifests: [], hosts: [info.host] }
    }
    if (sel.maxAgeMs !== undefined) checkAge(info.host, manifests, undefined, sel.maxAgeMs, now, report)
    return { manifests: [found], hosts: [info.host] }
  }
  const all: ManifestListing[] = []
  if (sel.hosts === undefined) {
    all.push(...(await listManifests(store)).manifests)
  } else {
    for (const host of sel.hosts) all.push(...(await listManifests(store, host)).manifests)
  }
  const hosts = sel.hosts ?? [...new Set(all.map((m) => m.host))]
  const chosen: ManifestListing[] = []
  for (const host of hosts) {
    const mine = all.filter((m) => m.host === host && (sel.at === undefined || m.runTime.getTime() <= sel.at.getTime()))
    const complete = mine.filter((m) => m.complete)
    const newest = complete[complete.length - 1]
    if (sel.all === true) chosen.push(...complete)
    else if (newest !== undefined) chosen.push(newest)
    checkAge(host, mine, sel.at, sel.maxAgeMs, now, report)
    for (const m of mine) {
      if (m.complete || (newest !== undefined && m.runTime.getTime() < newest.runTime.getTime())) continue
      report({ type: 'finding', kind: 'incomplete', host, manifest: m.key, key: m.key, detail: await incompleteDetail(store, m, newest) })
    }
  }
  return { manifests: chosen, hosts }
}

/** The `stale` finding of a host, if any: no complete backup, or the newest is older than `maxAgeMs`. */
function checkAge(host: string, manifests: ManifestListing[], at: Date | undefined, maxAgeMs: number | undefined, now: Date, report: FindingSink): void {
  const complete = manifests.filter((m) => m.complete)
  const newest = complete[complete.length - 1]
  const upTo = at === undefined ? '' : ` at or before ${at.toISOString()}`
  if (newest === undefined) {
    report({ type: 'finding', kind: 'stale', host, detail: `no complete backup${upTo}${manifests.length > 0 ? ` (only ${manifests.length} incomplete run(s))` : ''}` })
    return
  }
  if (maxAgeMs === undefined) return
  const age = (at ?? now).getTime() - newest.runTime.getTime()
  if (age > maxAgeMs) {
    report({ type: 'finding', kind: 'stale', host, manifest: newest.key,
      detail: `the newest complete backup${upTo} is from ${newest.runTime.toISOString()}, ${formatDuration(age)} old, more than --max-age ${formatDuration(maxAgeMs)}` })
  }
}

/** What an incomplete run's trailer says went wrong. Cost: one GetObject (the manifest is read through). */
async function incompleteDetail(store: Store, m: ManifestListing, newestComplete: ManifestListing | undefined): Promise<string> {
  const after = newestComplete === undefined ? 'and the host has no complete backup' : `after the newest complete one (${newestComplete.runTime.toISOString()})`
  let why = ''
  try {
    const reader = await openManifest(store, m.key)
    for await (const _ of reader) { /* read to the trailer */ }
    const verdict = reader.verdict()
    why = verdict.reason !== undefined ? `: ${verdict.reason}` : verdict.truncated !== undefined ? ` (its manifest is cut off: ${verdict.truncated})` : ''
  } catch (err) {
    if (!(err instanceof NotFoundError)) throw err
  }
  return `the run of ${m.runTime.toISOString()} did not complete${why}, ${after}`
}
