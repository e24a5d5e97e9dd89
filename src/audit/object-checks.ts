import { NotFoundError } from '../store/errors.js'
import type { Store, VersionInfo } from '../store/store.js'
import { mapOrdered } from '../util/concurrency.js'
import type { DataSample } from './data-sample.js'
import type { Finding, FindingSink } from './findings.js'
import { lockProblem } from './manifest-check.js'
import { hashVersion } from './read-data.js'
import type { Reference, ReferenceSet } from './reference-set.js'
import { listReferencedVersions, type ListingStats } from './version-listing.js'

export interface ObjectCheckOptions {
  /** Requests in flight at once for retention reads, per-key listings and downloads. */
  concurrency: number
  now: Date
  /** Download and hash these (undefined: no --read-data). */
  readData?: DataSample
}

/** What the object checks did. */
export interface ObjectCheckStats extends ListingStats {
  /** Distinct versions referenced. */
  versions: number
  /** Of which snapshots. */
  snapshots: number
  /** Retention reads made. */
  locksRead: number
  /** Versions downloaded and hashed. */
  dataRead: number
  /** Bytes downloaded. */
  bytesRead: number
}

const CONTENT_KEY = /^content\/([0-9a-f]{64})$/

/**
 * Checks every referenced version once, however many manifests share it:
 *  1. existence, from listings (version-listing.ts): the pinned version
 *     must be listed (`missing` otherwise); when a newer version of a
 *     content key holds different bytes (ETags differ, or sizes; a store
 *     whose listing has no ETags has both versions compared byte for
 *     byte), it is `shadowed`;
 *  2. retention, one GetObjectRetention per existing version (S3 has no
 *     bulk retention read), `concurrency` at once, against what the
 *     manifests demand (`unlocked`, `under-retained`, `wrong-mode`);
 *  3. with `readData`, the sampled versions are downloaded and hashed
 *     (`wrong-hash`), and a shadowing version is hashed too: when it
 *     decodes to its key's hash after all, it is an identical copy (two
 *     uploads of the same content), and not reported.
 */
export async function checkObjects(store: Store, refs: ReferenceSet, report: FindingSink, opts: ObjectCheckOptions): Promise<ObjectCheckStats> {
  const stats: ObjectCheckStats = { versions: refs.size, snapshots: 0, locksRead: 0, dataRead: 0, bytesRead: 0, sweepPages: 0, keyListings: 0 }
  const keys = refs.keys()
  const listed = new Map<string, VersionInfo[]>()
  const byPrefix = new Map<string, string[]>()
  for (const key of keys) {
    const prefix = key.startsWith('content/') ? 'content/' : key.slice(0, key.lastIndexOf('/') + 1)
    let group = byPrefix.get(prefix)
    if (group === undefined) byPrefix.set(prefix, group = [])
    group.push(key)
  }
  for (const [prefix, prefixKeys] of byPrefix) {
    for (const [key, versions] of await listReferencedVersions(store, prefix, prefixKeys, stats, opts.concurrency)) listed.set(key, versions)
  }

  const finding = (ref: Reference, kind: Finding['kind'], detail: string) => report({
    type: 'finding', kind, host: ref.referrer.host, manifest: ref.referrer.manifest, key: ref.key, versionId: ref.versionId,
    path: ref.referrer.path, ...(ref.references > 1 && { references: ref.references }), detail,
  })

  const present: Reference[] = []
  const shadows: { ref: Reference, latest: VersionInfo, pinned: VersionInfo }[] = []
  for (const ref of refs.all()) {
    if (ref.kind === 'snapshot') stats.snapshots++
    const versions = listed.get(ref.key) ?? []
    const pinned = versions.find((v) => v.versionId === ref.versionId)
    if (pinned === undefined) {
      const others = versions.length === 0 ? `${ref.key} has no version at all` : `${ref.key} has ${versions.length} other version(s), newest ${versions[0]!.versionId}`
      finding(ref, 'missing', `the referenced version does not exist (${others}); restoring this entry would fail`)
      continue
    }
    present.push(ref)
    const latest = versions[0]!
    if (ref.kind === 'content' && latest.versionId !== pinned.versionId) shadows.push({ ref, latest, pinned })
  }

  for await (const shadow of mapOrdered(shadows, opts.concurrency, (s) => describeShadow(store, s.ref, s.latest, s.pinned, opts.readData !== undefined, stats))) {
    if (shadow.detail !== null) finding(shadow.ref, 'shadowed', shadow.detail)
  }

  for await (const { ref, problem } of mapOrdered(present, opts.concurrency, async (ref) => {
    stats.locksRead++
    try {
      const retention = await store.getRetention(ref.key, ref.versionId)
      return { ref, problem: lockProblem(retention, ref.requiredUntil, ref.requiredMode, opts.now) }
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err
      return { ref, problem: { kind: 'missing' as const, detail: 'the referenced version vanished while it was being verified' } }
    }
  })) {
    if (problem !== null) finding(ref, problem.kind, problem.detail)
  }

  const sample = opts.readData
  if (sample !== undefined) {
    const chosen = present.filter((ref) => sample.includes(`${ref.key}\0${ref.versionId}`))
    for await (const { ref, detail } of mapOrdered(chosen, opts.concurrency, async (ref) => ({ ref, detail: await dataProblem(store, ref, stats) }))) {
      if (detail !== null) finding(ref, detail.startsWith('vanished') ? 'missing' : 'wrong-hash', detail)
    }
  }
  return stats
}

/** The SHA-256 a version's decoded bytes must have: its key's for content, the record's for a snapshot. */
function expectedHash(ref: Reference): string | undefined {
  return CONTENT_KEY.exec(ref.key)?.[1] ?? ref.sha256
}

/** Downloads and hashes a referenced version; what is wrong with it, or null. */
async function dataProblem(store: Store, ref: Reference, stats: ObjectCheckStats): Promise<string | null> {
  const digest = await hashVersion(store, ref.key, ref.versionId)
  stats.dataRead++
  if (digest === null) return 'vanished while it was being verified: the referenced version does not exist'
  stats.bytesRead += digest.storedBytes
  const expected = expectedHash(ref)
  if (expected === undefined) return null
  if (ref.kind === 'snapshot') {
    return digest.stored === expected ? null : `its ${digest.storedBytes} bytes hash to sha256 ${digest.stored}, not ${expected} as the manifest records`
  }
  if (digest.decoded === null) return `its bytes do not decode (${digest.decodeError ?? 'unknown'}); they must hash to ${expected}`
  return digest.decoded === expected ? null : `its content hashes to sha256 ${digest.decoded}, not to its key`
}

/**
 * Why a newer version in front of the pinned one matters, or null when it
 * holds the same bytes. Restore fetches the pinned version, so the newer one
 * does no harm to this backup, but it is not what its key promises, and
 * anyone fetching the key without a version gets it.
 */
async function describeShadow(store: Store, ref: Reference, latest: VersionInfo, pinned: VersionInfo, readData: boolean, stats: ObjectCheckStats): Promise<{ ref: Reference, detail: string | null }> {
  const what = `a newer version ${latest.versionId} (${latest.size} bytes, ${latest.lastModified.toISOString()}) stands in front of the pinned one (${pinned.size} bytes)`
  let differs: boolean
  let how: string
  if (latest.etag !== undefined && pinned.etag !== undefined) {
    differs = latest.etag !== pinned.etag || latest.size !== pinned.size
    how = differs ? `ETag ${latest.etag} ≠ ${pinned.etag}` : ''
  } else if (latest.size !== pinned.size) {
    differs = true
    how = 'sizes differ'
  } else {
    // No ETags in this listing (a local store): compare the stored bytes themselves.
    const [a, b] = await Promise.all([hashVersion(store, ref.key, latest.versionId), hashVersion(store, ref.key, pinned.versionId)])
    differs = a === null || b === null || a.stored !== b.stored
    how = differs ? 'stored bytes differ' : ''
  }
  if (!differs) return { ref, detail: null }
  if (!readData) return { ref, detail: `${what}, with different bytes (${how}); --read-data hashes it` }
  const digest = await hashVersion(store, ref.key, latest.versionId)
  stats.dataRead++
  if (digest === null) return { ref, detail: null }
  stats.bytesRead += digest.storedBytes
  const expected = expectedHash(ref)!
  if (digest.decoded === expected) return { ref, detail: null }
  return { ref, detail: `${what}; its content hashes to sha256 ${digest.decoded ?? `(undecodable: ${digest.decodeError ?? ''})`}, not to its key` }
}
