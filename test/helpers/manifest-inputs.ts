/**
 * Record streams as the stages before sysbackup-manifest write them, for
 * its tests: entries made up (the manifest never reads the files), with
 * their content really stored through the Store, so the references in them
 * are real.
 */
import { createHash } from 'node:crypto'
import { gunzipSync } from 'node:zlib'
import { encodePath, type FsPath } from '../../src/protocol/path-codec.js'
import type { FileRecord, Rec } from '../../src/protocol/records.js'
import type { Store } from '../../src/store/store.js'

export const DAY = 86_400_000
export const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex')

/** A `file` record as sysbackup-hash writes it, for made-up content. */
export function fileEntry(path: FsPath, content: string, extra: Partial<FileRecord> = {}): FileRecord {
  return {
    type: 'file', ...encodePath(path), mode: '0644', uid: 0, gid: 0, mtimeNs: '1700000000000000000', ctimeNs: '1700000000000000000',
    storageId: '2049:17', nlink: 1, size: Buffer.byteLength(content), sha256: sha256(content), readSize: Buffer.byteLength(content), gzip: false, lockedRead: true,
    ...extra,
  }
}

/** A `dir` record. */
export function dirEntry(path: FsPath): Rec {
  return { type: 'dir', ...encodePath(path), mode: '0755', uid: 0, gid: 0, mtimeNs: '1700000000000000000', ctimeNs: '1700000000000000000', storageId: '2049:2', nlink: 2 }
}

/**
 * What sysbackup-upload makes of a file record: its content stored at
 * `content/<sha256>` (really, through `store`), retained until
 * `retainUntil`, and the record completed with key, versionId and
 * retainUntil.
 */
export async function uploaded(store: Store, rec: FileRecord, content: string, retainUntil: Date): Promise<FileRecord> {
  const key = `content/${rec.sha256}`
  const { versionId } = await store.putBuffer(key, Buffer.from(content), {
    lockMode: 'GOVERNANCE', retainUntil, metadata: { sha256: rec.sha256!, size: String(rec.size), encoding: 'identity' },
  })
  return { ...rec, key, versionId, retainUntil: retainUntil.toISOString(), upload: 'stored' }
}

/**
 * `body` wrapped in the nested headers and trailers of `producers`,
 * outermost first (as a stream through pick, hash and upload is
 * `['sysbackup-upload', 'sysbackup-hash', 'sysbackup-pick']`). `cutAfter`
 * leaves out the last trailers, as when the stream was cut off. `counts`
 * go into the outermost stage's trailer.
 */
export function nested(producers: string[], body: Rec[], options: { startedAt?: Date, ok?: boolean, cutAfter?: number, counts?: Record<string, number> } = {}): Rec[] {
  const started = options.startedAt ?? new Date(Date.now() - 60_000)
  const headers = producers.map((producer, i) => ({
    type: 'header', producer, protocol: 1, version: '0.1.0', startedAt: new Date(started.getTime() + i * 1000).toISOString(), host: 'testhost',
  }))
  const trailers = [...producers].reverse().map((producer, i) => ({
    type: 'trailer', producer, ok: options.ok ?? true, finishedAt: new Date().toISOString(),
    counts: { records: body.length, errors: 0, warnings: 0, ...(i === producers.length - 1 && options.counts) },
  }))
  const kept = options.cutAfter === undefined ? trailers : trailers.slice(0, options.cutAfter)
  return [...headers, ...body, ...kept]
}

/** The manifest object at `key` (its newest version): the text, uncompressed, and its records. */
export async function readManifest(store: Store, key: string, versionId?: string): Promise<{ text: string, records: Rec[], versionId: string }> {
  const { info, body } = await store.get(key, versionId)
  const chunks: Buffer[] = []
  for await (const chunk of body) chunks.push(chunk as Buffer)
  const text = gunzipSync(Buffer.concat(chunks)).toString('utf8')
  return { text, records: text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Rec), versionId: info.versionId }
}

/** The keys of every version under `prefix`. */
export async function versionKeys(store: Store, prefix: string): Promise<string[]> {
  const keys: string[] = []
  for await (const page of store.listVersions(prefix)) for (const v of page) keys.push(v.key)
  return keys
}

/** A snapshot stored as sysbackup-snap would store it, and its record. */
export async function snapshotRecord(store: Store, name: string, content: string, retainUntil: Date, stamp = '20261126T080000Z'): Promise<Rec> {
  const key = `snapshots/testhost/${stamp}-${name}`
  const { versionId } = await store.putBuffer(key, Buffer.from(content), { lockMode: 'GOVERNANCE', retainUntil, metadata: { description: name } })
  return {
    type: 'snapshot', name, key, versionId, size: Buffer.byteLength(content), sha256: sha256(content),
    description: `snapshot ${name}`, restoreThrough: 'cat > /dev/null', retainUntil: retainUntil.toISOString(),
  }
}
