/**
 * Backups made for restore tests. `pickAndHash` runs the real first two
 * stages as processes. `storeAndWriteManifest` stands in for
 * sysbackup-upload and sysbackup-manifest (not merged yet): it stores each
 * file's content through the Store API and writes the manifest object
 * exactly as their contract says (LAYOUT-CONTRACT, sysbackup-manifest(1)).
 */
import { createHash } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { keyTimestamp } from '../../src/archive/run-time.js'
import { manifestKey } from '../../src/manifests/manifest-key.js'
import { decodePath, pathBytes } from '../../src/protocol/path-codec.js'
import type { Rec } from '../../src/protocol/records.js'
import type { Store } from '../../src/store/store.js'
import { runBin } from './bin.js'

export const DAY_MS = 24 * 3600 * 1000

export interface ManifestOptions {
  host: string
  runTime: Date
  /** Default runTime + 14 days. */
  retainUntil?: Date
  /** The run was complete (default true): decides the key and the trailer's ok. */
  complete?: boolean
  /** Records of the log (error/warning) to put in the manifest. */
  log?: Rec[]
  snapshots?: Rec[]
}

export interface StoredManifest {
  key: string
  versionId: string
  /** The manifest's records, as written. */
  records: Rec[]
  /** Its NDJSON text, uncompressed. */
  text: string
}

/** Runs `sysbackup-pick --stdin --null` on NUL-separated paths, then `sysbackup-hash`, as processes; their output records. */
export async function pickAndHash(paths: Buffer, scratch: string): Promise<Rec[]> {
  const configDir = join(scratch, 'conf.d')
  const { mkdirSync } = await import('node:fs')
  mkdirSync(configDir, { recursive: true })
  writeFileSync(join(configDir, 'conf'), '')
  const picked = await runBin('sysbackup-pick', ['--config', configDir, '--stdin', '--null'], { stdin: paths })
  if (picked.status !== 0) throw new Error(`sysbackup-pick failed (${picked.status}): ${picked.stderr}`)
  const hashed = await runBin('sysbackup-hash', ['--config', configDir, '--state-dir', join(scratch, 'state'), '--lock-timeout', '0'], { stdin: picked.stdout })
  if (hashed.status !== 0) throw new Error(`sysbackup-hash failed (${hashed.status}): ${hashed.stderr}`)
  return hashed.records()
}

/** Stores content of the hashed file records (once per content) and writes the manifest; returns it. */
export async function storeAndWriteManifest(store: Store, hashed: Rec[], options: ManifestOptions): Promise<StoredManifest> {
  const retainUntil = options.retainUntil ?? new Date(options.runTime.getTime() + 14 * DAY_MS)
  const lock = { lockMode: 'GOVERNANCE' as const, retainUntil }
  const stored = new Map<string, string>()
  const entries: Rec[] = []
  for (const rec of hashed) {
    if (!['file', 'dir', 'symlink', 'special'].includes(rec.type)) continue
    if (rec.type !== 'file' || typeof rec.sha256 !== 'string') {
      entries.push({ ...rec })
      continue
    }
    const key = `content/${rec.sha256}`
    let versionId = stored.get(key)
    if (versionId === undefined) {
      const content = readFileSync(decodePath(rec))
      if (createHash('sha256').update(content).digest('hex') !== rec.sha256) throw new Error(`${key}: file changed since it was hashed`)
      const gzip = rec.gzip === true
      versionId = (await store.putBuffer(key, gzip ? gzipSync(content) : content, {
        ...lock,
        metadata: { sha256: rec.sha256, size: String(content.length), encoding: gzip ? 'gzip' : 'identity' },
        ...(gzip && { contentEncoding: 'gzip' }),
      })).versionId
      stored.set(key, versionId)
    }
    entries.push({ ...rec, key, versionId, retainUntil: retainUntil.toISOString(), upload: 'stored' })
  }
  return writeManifest(store, entries, options)
}

/** A manifest of `entries` (sorted here by path bytes), with header, snapshots, log and trailer, stored under its key. */
export async function writeManifest(store: Store, entries: Rec[], options: ManifestOptions): Promise<StoredManifest> {
  const complete = options.complete ?? true
  const retainUntil = options.retainUntil ?? new Date(options.runTime.getTime() + 14 * DAY_MS)
  const sorted = [...entries].sort((a, b) => Buffer.compare(pathBytes(decodePath(a)), pathBytes(decodePath(b))))
  const snapshots = options.snapshots ?? []
  const log = options.log ?? []
  const header: Rec = {
    type: 'header', producer: 'sysbackup-manifest', protocol: 1, version: '0.1.0',
    startedAt: options.runTime.toISOString(), host: options.host, runTime: options.runTime.toISOString(),
    retainUntil: retainUntil.toISOString(), lockMode: 'GOVERNANCE', daysRetained: 14, store: store.id,
  }
  const body = [header, ...sorted, ...snapshots, ...log]
  const text = body.map((r) => JSON.stringify(r) + '\n').join('')
  const count = (type: string) => sorted.filter((r) => r.type === type).length
  const bytes = sorted.reduce((sum, r) => sum + (r.type === 'file' && typeof r.size === 'number' ? r.size : 0), 0)
  const trailer: Rec = {
    type: 'trailer', producer: 'sysbackup-manifest', ok: complete, ...(complete ? {} : { reason: 'upstream: sysbackup-hash: 1 error(s)' }),
    counts: {
      entries: sorted.length, files: count('file'), dirs: count('dir'), symlinks: count('symlink'), special: count('special'),
      snapshots: snapshots.length, errors: log.filter((r) => r.type === 'error').length, warnings: log.filter((r) => r.type === 'warning').length, bytes,
    },
    digest: `sha256:${createHash('sha256').update(text).digest('hex')}`,
    finishedAt: new Date(options.runTime.getTime() + 60_000).toISOString(),
  }
  const full = text + JSON.stringify(trailer) + '\n'
  const key = manifestKey(options.host, options.runTime, complete)
  const { versionId } = await store.putBuffer(key, gzipSync(full), {
    lockMode: 'GOVERNANCE', retainUntil,
    metadata: { complete: String(complete), entries: String(sorted.length), bytes: String(bytes), files: String(count('file')), digest: trailer.digest as string },
    contentType: 'application/x-ndjson',
  })
  return { key, versionId, records: [...body, trailer], text: full }
}

/** Stores a snapshot's bytes as sysbackup-snap would, and returns its record. */
export async function storeSnapshot(store: Store, host: string, runTime: Date, name: string, bytes: Buffer, restoreThrough?: string): Promise<Rec> {
  const retainUntil = new Date(runTime.getTime() + 14 * DAY_MS)
  const key = `snapshots/${host}/${keyTimestamp(runTime)}-${name}`
  const sha256 = createHash('sha256').update(bytes).digest('hex')
  const { versionId } = await store.putBuffer(key, bytes, {
    lockMode: 'GOVERNANCE', retainUntil,
    metadata: { description: 'test snapshot', sha256, size: String(bytes.length), ...(restoreThrough !== undefined && { 'restore-through': encodeURIComponent(restoreThrough) }) },
  })
  return {
    type: 'snapshot', name, key, versionId, size: bytes.length, sha256, description: 'test snapshot\n',
    ...(restoreThrough !== undefined && { restoreThrough }), retainUntil: retainUntil.toISOString(),
  }
}

/** Picks and hashes everything under `source` (find -print0) and stores it as one backup. */
export async function backupTree(store: Store, source: string, scratch: string, options: ManifestOptions): Promise<StoredManifest & { hashed: Rec[] }> {
  const { execFileSync } = await import('node:child_process')
  const hashed = await pickAndHash(execFileSync('find', [source, '-print0']), scratch)
  return { ...await storeAndWriteManifest(store, hashed, options), hashed }
}
