import { newestManifestOf } from '../../manifests/list-manifests.js'
import { openManifest } from '../../manifests/read-manifest.js'
import { isRefusal } from '../../store/errors.js'
import type { Store } from '../../store/store.js'
import type { ManifestCollector } from '../manifest-share.js'
import type { CachedContent, FilesCache } from './files-cache.js'
import { identityKey } from './identity.js'
import { RACY_WINDOW_NS } from './hash-records.js'

/** What seeding found. */
export type ManifestSeed =
  /** `entries` identities taken from manifest `key` (null: the host has no manifest). */
  | { kind: 'seeded', key: string | null, entries: number }
  /** The store refused to list or read manifests (the backup role may not be allowed to). */
  | { kind: 'refused', message: string }
  /** The manifest, or the store, could not be read or trusted: nothing was taken. */
  | { kind: 'unusable', key?: string, message: string }

const SHA256 = /^[0-9a-f]{64}$/
const STORAGE_ID = /^\d+:\d+$/
const NANOSECONDS = /^\d+$/

/**
 * Fills an empty files cache from the newest manifest of `host`, so that a
 * run that lost its state directory reads only the files that changed
 * since, not every file again: each file entry's identity (storageId,
 * size, mtimeNs, ctimeNs) with its sha256 and gzip decision, as the hash
 * stage of that run found them.
 *
 * An entry is taken only when the cache itself would have kept it: read
 * under the shared lock (`lockedRead`), whole (`readSize` = `size`), and
 * with mtime and ctime RACY_WINDOW_NS before the run's time (its key's
 * timestamp; every file was read after it), so no write in the same
 * timestamp tick can hide behind the identity. Nothing is taken from a
 * manifest whose digest does not match or that is cut off.
 *
 * `collector`, when given, sees every record of the manifest, and is told
 * the manifest's key once all of it was read and its digest is right
 * (manifest-share.ts: the upload stage takes its versions from there).
 *
 * Cost: one ListObjectsV2 per 1000 manifests of the host, one GetObject.
 */
export async function seedFromManifest(cache: FilesCache, store: Store, host: string, collector?: ManifestCollector): Promise<ManifestSeed> {
  let key: string | undefined
  try {
    const newest = await newestManifestOf(store, host)
    if (newest === undefined) return { kind: 'seeded', key: null, entries: 0 }
    key = newest.key
    const cutoffNs = BigInt(newest.runTime.getTime()) * 1_000_000n - RACY_WINDOW_NS
    const found: [string, CachedContent][] = []
    const reader = await openManifest(store, key)
    for await (const line of reader) {
      const rec = line.rec
      if (rec !== undefined) collector?.add(rec)
      if (rec?.type !== 'file') continue
      const { storageId, size, mtimeNs, ctimeNs, sha256, gzip, readSize, lockedRead } = rec
      if (lockedRead !== true || typeof gzip !== 'boolean' || typeof sha256 !== 'string' || !SHA256.test(sha256)) continue
      if (typeof storageId !== 'string' || !STORAGE_ID.test(storageId) || !Number.isSafeInteger(size) || readSize !== size) continue
      if (typeof mtimeNs !== 'string' || !NANOSECONDS.test(mtimeNs) || typeof ctimeNs !== 'string' || !NANOSECONDS.test(ctimeNs)) continue
      if (BigInt(mtimeNs) >= cutoffNs || BigInt(ctimeNs) >= cutoffNs) continue
      found.push([identityKey({ storageId, size: size as number, mtimeNs, ctimeNs }), { sha256, gzip }])
    }
    const verdict = reader.verdict()
    if (verdict.truncated !== undefined) return { kind: 'unusable', key, message: verdict.truncated }
    if (verdict.digest !== 'ok') return { kind: 'unusable', key, message: `its digest is ${verdict.digest === 'mismatch' ? 'wrong: it was altered' : 'missing'}` }
    collector?.finish(key)
    for (const [identity, content] of found) cache.seed(identity, content)
    return { kind: 'seeded', key, entries: found.length }
  } catch (err) {
    const message = (err as Error).message
    if (isRefusal(err)) return { kind: 'refused', message }
    return key === undefined ? { kind: 'unusable', message } : { kind: 'unusable', key, message }
  }
}
