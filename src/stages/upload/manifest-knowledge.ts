import type { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { RecordReader } from '../../protocol/read-records.js'
import { isRefusal, StoreFatalError } from '../../store/errors.js'
import type { Rec } from '../../protocol/records.js'
import type { Store } from '../../store/store.js'
import { SharedDates } from '../../util/shared-dates.js'
import type { SharedVersions } from '../manifest-share.js'
import type { KnownVersion } from './content-cache.js'

/** `manifests/<host>/<timestamp>.ndjson.gz` or `….incomplete.ndjson.gz` (sysbackup-manifest(1)). */
const MANIFEST_NAME = /^(\d{8}T\d{6}Z)(\.incomplete)?\.ndjson\.gz$/
const SHA256 = /^[0-9a-f]{64}$/

/** What the newest manifest of a host told, or why it told nothing. */
export type ManifestKnowledge =
  /** Versions of content it references that are still retained (possibly none); `key` is null when the host has no manifest. */
  | { kind: 'read', key: string | null, versions: Map<string, KnownVersion>, entries: number }
  /** The store refused to list or read manifests (AccessDenied): the backup role may not be allowed to. */
  | { kind: 'refused', message: string }
  /** The manifest could not be used (not gzip, not the record protocol…). */
  | { kind: 'unusable', key: string, message: string }

/**
 * Reads what the newest manifest of `host` says is stored: the `key`,
 * `versionId` and `retainUntil` of its file entries, exactly as
 * sysbackup-upload wrote them for that run. Retention only grows, so each
 * date is a lower bound; entries not retained beyond `now` are left out (an
 * unlocked version may have been deleted). Complete and `.incomplete`
 * manifests both count; the newest is the greatest timestamp in the name.
 *
 * `shared`: what the hash stage of this process collected from its
 * reading of a manifest (manifest-share.ts); taken instead of a reading
 * of its own when it is of the manifest found newest.
 *
 * Cost: one ListObjectsV2 per 1000 manifests of the host, and one GetObject
 * (none when `shared` has it).
 * Throws StoreFatalError for failures other than a refusal (a missing
 * bucket, bad credentials).
 */
export async function readManifestKnowledge(store: Store, host: string, now: Date, shared?: () => SharedVersions | undefined): Promise<ManifestKnowledge> {
  const prefix = `manifests/${host}/`
  let newest: { key: string, stamp: string, complete: boolean } | undefined
  let key: string
  try {
    for await (const page of store.listLatest(prefix)) {
      for (const item of page) {
        const m = MANIFEST_NAME.exec(item.key.slice(prefix.length))
        if (!m) continue
        const candidate = { key: item.key, stamp: m[1]!, complete: m[2] === undefined }
        if (newest === undefined || candidate.stamp > newest.stamp || (candidate.stamp === newest.stamp && candidate.complete)) newest = candidate
      }
    }
    if (newest === undefined) return { kind: 'read', key: null, versions: new Map(), entries: 0 }
    key = newest.key
    const collected = shared?.()
    if (collected?.key === key) return { kind: 'read', key, versions: collected.versions.versions, entries: collected.versions.entries }
    const { body } = await store.get(key)
    return await readVersions(key, body, now)
  } catch (err) {
    if (isRefusal(err)) return { kind: 'refused', message: (err as Error).message }
    if (err instanceof StoreFatalError) throw err
    if (newest === undefined) throw err
    return { kind: 'unusable', key: newest.key, message: (err as Error).message }
  }
}

async function readVersions(key: string, body: Readable, now: Date): Promise<ManifestKnowledge> {
  const gunzip = createGunzip()
  body.on('error', (err) => gunzip.destroy(err))
  body.pipe(gunzip)
  const found = new ManifestVersions(now)
  try {
    for await (const rec of new RecordReader(gunzip, { source: key })) found.add(rec)
  } finally {
    body.unpipe(gunzip)
    body.destroy()
  }
  return { kind: 'read', key, versions: found.versions, entries: found.entries }
}

/**
 * The content versions a manifest's records name, as readManifestKnowledge
 * takes them: of each file entry its `key`, `versionId` and `retainUntil`,
 * when retained beyond `now`; the latest retention of each content.
 */
export class ManifestVersions {
  readonly versions = new Map<string, KnownVersion>()
  /** File entries taken (several may name one content). */
  entries = 0
  private readonly dates = new SharedDates()

  constructor(private readonly now: Date) {}

  add(rec: Rec): void {
    if (rec.type !== 'file') return
    const { sha256, key: contentKey, versionId, retainUntil } = rec
    if (typeof sha256 !== 'string' || !SHA256.test(sha256) || contentKey !== `content/${sha256}`) return
    if (typeof versionId !== 'string' || versionId === '' || typeof retainUntil !== 'string') return
    const until = this.dates.of(Date.parse(retainUntil))
    if (!(until.getTime() > this.now.getTime())) return
    this.entries++
    const known = this.versions.get(sha256)
    if (known === undefined || known.retainUntil!.getTime() < until.getTime()) this.versions.set(sha256, { versionId, retainUntil: until })
  }
}
