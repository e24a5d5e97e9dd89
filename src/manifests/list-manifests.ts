import type { LockMode, Store } from '../store/store.js'
import { mapOrdered } from '../util/concurrency.js'
import { manifestPrefix, parseManifestKey, type ManifestKeyInfo } from './manifest-key.js'

/** A manifest as a listing shows it: what its key says, and the object's size. */
export interface ManifestListing extends ManifestKeyInfo {
  /** Bytes of the stored (gzip) object. */
  size: number
  lastModified: Date
}

/** A listing plus what the object's metadata and retention say (one HeadObject). */
export interface ManifestDetails extends ManifestListing {
  versionId: string
  /** From the object metadata written by sysbackup-manifest; absent when it carries none. */
  entries?: number
  files?: number
  bytes?: number
  /** `sha256:<hex>` of the manifest's lines before its trailer. */
  digest?: string
  lockMode?: LockMode
  retainUntil?: Date
}

export interface ManifestList {
  /** Sorted by host, then run time (oldest first). */
  manifests: ManifestListing[]
  /** Keys under `manifests/` that are not manifest keys (left alone, reported). */
  strangers: string[]
}

/**
 * Every manifest in the store, of one host or of all. Completeness, host and
 * run time come from the keys alone.
 * Cost: one ListObjectsV2 per 1000 keys under `manifests/` (or `manifests/HOST/`).
 */
export async function listManifests(store: Store, host?: string): Promise<ManifestList> {
  const manifests: ManifestListing[] = []
  const strangers: string[] = []
  for await (const page of store.listLatest(manifestPrefix(host))) {
    for (const obj of page) {
      const info = parseManifestKey(obj.key)
      if (info === null || (host !== undefined && info.host !== host)) strangers.push(obj.key)
      else manifests.push({ ...info, size: obj.size, lastModified: obj.lastModified })
    }
  }
  manifests.sort(compareListings)
  return { manifests, strangers }
}

/**
 * The newest manifest of `host`, complete or not (of one second, the
 * complete one), or undefined when it has none.
 * Cost: one ListObjectsV2 per 1000 manifests of the host.
 */
export async function newestManifestOf(store: Store, host: string): Promise<ManifestListing | undefined> {
  const { manifests } = await listManifests(store, host)
  // Sorted oldest first, and of one second the complete one first.
  return manifests.reduce<ManifestListing | undefined>((best, m) => best === undefined || m.runTime > best.runTime ? m : best, undefined)
}

/** By host, then run time; a complete manifest before an incomplete one of the same second. */
export function compareListings(a: ManifestKeyInfo, b: ManifestKeyInfo): number {
  if (a.host !== b.host) return a.host < b.host ? -1 : 1
  const dt = a.runTime.getTime() - b.runTime.getTime()
  if (dt !== 0) return dt
  return a.complete === b.complete ? 0 : a.complete ? -1 : 1
}

/**
 * Adds each manifest's metadata and retention, asking the store about at
 * most `concurrency` at once, in the listing's order. A manifest that has
 * vanished since it was listed is dropped.
 * Cost: one HeadObject per manifest.
 */
export async function describeManifests(store: Store, listings: ManifestListing[], concurrency = 8): Promise<ManifestDetails[]> {
  const out: ManifestDetails[] = []
  for await (const details of mapOrdered(listings, concurrency, (m) => describeManifest(store, m))) {
    if (details !== null) out.push(details)
  }
  return out
}

/** One manifest's details, or null when it is gone. Cost: one HeadObject. */
export async function describeManifest(store: Store, listing: ManifestListing, versionId?: string): Promise<ManifestDetails | null> {
  const info = await store.head(listing.key, versionId)
  if (info === null) return null
  const details: ManifestDetails = { ...listing, versionId: info.versionId, size: info.size, lastModified: info.lastModified }
  const count = (name: string): number | undefined => {
    const text = info.metadata[name]
    return text !== undefined && /^\d+$/.test(text) ? Number(text) : undefined
  }
  const entries = count('entries')
  const files = count('files')
  const bytes = count('bytes')
  if (entries !== undefined) details.entries = entries
  if (files !== undefined) details.files = files
  if (bytes !== undefined) details.bytes = bytes
  if (info.metadata.digest !== undefined) details.digest = info.metadata.digest
  if (info.lockMode !== undefined) details.lockMode = info.lockMode
  if (info.retainUntil !== undefined) details.retainUntil = info.retainUntil
  return details
}
