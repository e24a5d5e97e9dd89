import { UsageError } from '../cli/errors.js'
import { checkHostOption } from '../config/host.js'
import type { Store } from '../store/store.js'
import { describeManifest, listManifests, type ManifestDetails, type ManifestListing } from './list-manifests.js'
import { requireManifestKey } from './manifest-key.js'

/** How a person names a backup: an exact key, or a host and a time. */
export interface ManifestChoice {
  /** `--key`: exactly this manifest (complete or not). */
  key?: string
  /** `--host`: whose backups (default: this machine's, see config/host.ts resolveHost). */
  host?: string
  /** `--at`: the newest complete backup at or before this time (default: the newest). */
  at?: Date
}

/**
 * The rule for choosing among listed manifests: with `key`, that one;
 * otherwise the newest complete manifest of `host` (default `defaultHost`)
 * whose run time is at or before `at` (any time when absent). Incomplete
 * manifests are chosen only by key. Returns null when none fits.
 */
export function chooseFrom(manifests: readonly ManifestListing[], choice: ManifestChoice, defaultHost: string): ManifestListing | null {
  if (choice.key !== undefined) return manifests.find((m) => m.key === choice.key) ?? null
  const host = choice.host ?? defaultHost
  let best: ManifestListing | null = null
  for (const m of manifests) {
    if (m.host !== host || !m.complete) continue
    if (choice.at !== undefined && m.runTime.getTime() > choice.at.getTime()) continue
    if (best === null || m.runTime.getTime() > best.runTime.getTime()) best = m
  }
  return best
}

/**
 * Finds the manifest a person chose in the store, with its details.
 * Throws UsageError (exit 2, nothing done) for a malformed key or host,
 * or when no manifest fits, saying what was looked for and what exists.
 * Cost: with `key`, one HeadObject; otherwise one ListObjectsV2 per 1000
 * manifests of the host, and one HeadObject.
 */
export async function findManifest(store: Store, choice: ManifestChoice, defaultHost: string): Promise<ManifestDetails> {
  if (choice.key !== undefined) {
    const info = requireManifestKey(choice.key, 'option --key:')
    const details = await describeManifest(store, { ...info, size: 0, lastModified: new Date(0) })
    if (details === null) throw new UsageError(`no manifest ${choice.key} in ${store.id}`)
    return details
  }
  const host = choice.host ?? defaultHost
  checkHostOption(host)
  const { manifests } = await listManifests(store, host)
  const chosen = chooseFrom(manifests, { ...choice, host }, defaultHost)
  if (chosen === null) throw new UsageError(nothingFits(host, choice.at, manifests, store.id))
  const details = await describeManifest(store, chosen)
  if (details === null) throw new UsageError(`manifest ${chosen.key} vanished from ${store.id} while it was being chosen`)
  return details
}

function nothingFits(host: string, at: Date | undefined, manifests: ManifestListing[], where: string): string {
  const when = at === undefined ? '' : ` at or before ${at.toISOString()}`
  if (manifests.length === 0) return `no backup of host "${host}" in ${where} (see s3-sysbackup list)`
  const incomplete = manifests.filter((m) => !m.complete && (at === undefined || m.runTime <= at)).length
  const oldest = manifests[0]!.runTime.toISOString()
  return `no complete backup of host "${host}"${when} in ${where} (it has ${manifests.length} backup(s) from ${oldest}` +
    `${incomplete > 0 ? `, ${incomplete} incomplete one(s) in range: choose one with --key` : ''}; see s3-sysbackup list)`
}
