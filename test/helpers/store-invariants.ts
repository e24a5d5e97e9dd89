/**
 * Checks a store against the design's invariants, looking at every object
 * as it is stored (not at what the tools said they did):
 *
 * - invariant 1: every version of `content/<h>` decodes to bytes whose
 *   SHA-256 is `h`, and its `sha256`/`size` metadata agree;
 * - invariant 2: every manifest (complete or not) is a readable record
 *   stream whose referenced content and snapshot versions exist and are
 *   retained at least until the manifest's own retain-until, and the
 *   manifest itself is locked that long;
 * - a `.ndjson.gz` (complete) manifest ends with an ok trailer.
 *
 * Returns every problem found (empty: the store is sound), plus figures a
 * test can report (duplicate content versions are allowed: an idempotent
 * retry may store a second identical version).
 */
import { createHash } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import type { Rec } from '../../src/protocol/records.js'
import type { ObjectInfo, Store } from '../../src/store/store.js'

export interface StoreCheck {
  problems: string[]
  manifests: { key: string, complete: boolean, entries: number }[]
  contentKeys: number
  contentVersions: number
  /** Content keys with more than one version. */
  duplicated: number
}

async function bodyOf(store: Store, key: string, versionId: string): Promise<{ info: ObjectInfo, bytes: Buffer }> {
  const { info, body } = await store.get(key, versionId)
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  return { info, bytes: Buffer.concat(chunks) }
}

export async function checkStore(store: Store): Promise<StoreCheck> {
  const problems: string[] = []
  const check: StoreCheck = { problems, manifests: [], contentKeys: 0, contentVersions: 0, duplicated: 0 }

  const contentVersions = new Map<string, string[]>()
  for await (const page of store.listVersions('content/')) {
    for (const v of page) contentVersions.set(v.key, [...(contentVersions.get(v.key) ?? []), v.versionId])
  }
  for (const [key, versions] of contentVersions) {
    check.contentKeys++
    check.contentVersions += versions.length
    if (versions.length > 1) check.duplicated++
    const expected = key.slice('content/'.length)
    if (!/^[0-9a-f]{64}$/.test(expected)) problems.push(`${key}: not content/<sha256>`)
    for (const versionId of versions) {
      const { info, bytes } = await bodyOf(store, key, versionId)
      let decoded: Buffer
      try {
        decoded = info.metadata.encoding === 'gzip' || info.contentEncoding === 'gzip' ? gunzipSync(bytes) : bytes
      } catch (err) {
        problems.push(`${key} ${versionId}: does not gunzip: ${(err as Error).message}`)
        continue
      }
      const actual = createHash('sha256').update(decoded).digest('hex')
      if (actual !== expected) problems.push(`${key} ${versionId}: content hashes to ${actual}`)
      if (info.metadata.sha256 !== undefined && info.metadata.sha256 !== expected) problems.push(`${key} ${versionId}: metadata sha256 ${info.metadata.sha256}`)
      if (info.metadata.size !== undefined && Number(info.metadata.size) !== decoded.length) problems.push(`${key} ${versionId}: metadata size ${info.metadata.size}, decoded ${decoded.length}`)
      if (!info.lockMode || !info.retainUntil) problems.push(`${key} ${versionId}: not locked`)
    }
  }

  for await (const page of store.listVersions('manifests/')) {
    for (const v of page) await checkManifest(store, v.key, v.versionId, check)
  }
  return check
}

async function checkManifest(store: Store, key: string, versionId: string, check: StoreCheck): Promise<void> {
  const { problems } = check
  const where = `${key} ${versionId}`
  const { info, bytes } = await bodyOf(store, key, versionId)
  let records: Rec[]
  try {
    records = gunzipSync(bytes).toString('utf8').split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Rec)
  } catch (err) {
    problems.push(`${where}: unreadable: ${(err as Error).message}`)
    return
  }
  const header = records[0]
  const trailer = records.at(-1)
  const complete = !key.endsWith('.incomplete.ndjson.gz')
  check.manifests.push({ key, complete, entries: records.filter((r) => ['file', 'dir', 'symlink', 'special'].includes(r.type)).length })
  if (header?.type !== 'header' || typeof header.retainUntil !== 'string') {
    problems.push(`${where}: no header with retainUntil`)
    return
  }
  if (trailer?.type !== 'trailer') problems.push(`${where}: no trailer`)
  else if (complete && trailer.ok !== true) problems.push(`${where}: a complete manifest's trailer is not ok`)
  else if (!complete && trailer.ok === true) problems.push(`${where}: an incomplete manifest's trailer says ok`)
  const retainUntil = new Date(header.retainUntil)
  const locked = (i: ObjectInfo | null, what: string) => {
    if (i === null) problems.push(`${where}: references ${what}, which does not exist`)
    else if (!i.lockMode || !i.retainUntil) problems.push(`${where}: references ${what}, which is not locked`)
    else if (i.retainUntil.getTime() < retainUntil.getTime()) problems.push(`${where}: references ${what}, locked only until ${i.retainUntil.toISOString()}`)
  }
  locked(info, 'itself')
  for (const rec of records) {
    if (typeof rec.key !== 'string' || typeof rec.versionId !== 'string') continue
    if (rec.type !== 'file' && rec.type !== 'snapshot') continue
    if (rec.type === 'file' && rec.key !== `content/${String(rec.sha256)}`) problems.push(`${where}: file record key ${rec.key} is not content/<its sha256>`)
    locked(await store.head(rec.key, rec.versionId), `${rec.key} ${rec.versionId}`)
  }
}

/**
 * Differences between the newest manifest of `host` and the regular files
 * under `tree` as they are now: a file missing from the manifest, or
 * recorded with another SHA-256 than its bytes have (empty: the backup
 * holds exactly the tree's files).
 */
export async function manifestMatchesTree(store: Store, host: string, tree: string): Promise<string[]> {
  const { readdirSync, readFileSync, lstatSync } = await import('node:fs')
  const { join } = await import('node:path')
  let newest: string | undefined
  for await (const page of store.listLatest(`manifests/${host}/`)) for (const item of page) newest = item.key
  if (newest === undefined) return ['no manifest']
  const { info, bytes } = await bodyOf(store, newest, (await store.head(newest))!.versionId)
  void info
  const recorded = new Map<string, unknown>()
  for (const line of gunzipSync(bytes).toString('utf8').split('\n')) {
    if (line === '') continue
    const rec = JSON.parse(line) as Rec
    if (rec.type === 'file' && typeof rec.path === 'string') recorded.set(rec.path, rec.sha256)
  }
  const differences: string[] = []
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name)
      const st = lstatSync(path)
      if (st.isDirectory()) walk(path)
      else if (st.isFile()) {
        const sha = createHash('sha256').update(readFileSync(path)).digest('hex')
        if (!recorded.has(path)) differences.push(`${path}: not in ${newest}`)
        else if (recorded.get(path) !== sha) differences.push(`${path}: recorded as ${String(recorded.get(path))}, is ${sha}`)
      }
    }
  }
  walk(tree)
  return differences
}
