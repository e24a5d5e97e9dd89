/**
 * Backups made for restore tests. `runBackup` runs the real stages as
 * processes, piped by bash as a person would type them:
 *
 *   find SRC -print0 | sysbackup-pick --stdin --null | sysbackup-hash |
 *     sysbackup-upload | sysbackup-manifest - [snaps.ndjson]
 *
 * (with sysbackup-snap first when snapshotters are given). `writeManifest`
 * writes a manifest of records given as they are, for tests of crafted,
 * damaged or hand-made manifests.
 */
import { createHash } from 'node:crypto'
import { spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { manifestKey } from '../../src/stages/manifest/manifest.js'
import { keyTimestamp, type RunIdentity } from '../../src/stages/run-identity.js'
import { decodePath, pathBytes } from '../../src/protocol/path-codec.js'
import type { Rec } from '../../src/protocol/records.js'
import type { Store } from '../../src/store/store.js'
import { ROOT } from './bin.js'
import { parseRecords } from './io.js'

export const DAY_MS = 24 * 3600 * 1000

/** Retain-until of test backups: far ahead, so they are valid whatever the clock says. */
export const TEST_RETAIN_UNTIL = new Date('2099-01-01T00:00:00Z')

export interface ManifestOptions {
  host: string
  runTime: Date
  /** Default TEST_RETAIN_UNTIL. */
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

export interface BackupOptions {
  host: string
  runTime: Date
  retainUntil?: Date
  /** How the stages reach the store: `['--store', DIR]`, or `[]` when the configuration names it. */
  storeArgs: string[]
  /** Text of the configuration's conf file (default empty). */
  conf?: string
  /** Snapshotters of snapshots.d, by name: bash script bodies (the snapshot goes to the fd in "$1"). */
  snapshotters?: Record<string, string>
  /** Extra environment for the stages (moto's endpoint and credentials). */
  env?: NodeJS.ProcessEnv
}

const quote = (text: string) => `'${text.replace(/'/g, "'\\''")}'`
const bin = (name: string) => `${quote(process.execPath)} ${quote(join(ROOT, 'bin', `${name}.js`))}`
let backups = 0

/**
 * Backs up everything under `source` with the real stages, as processes
 * (see above), into the store `storeArgs` names, and returns the stored
 * manifest. `scratch` holds the configuration, state and output. Throws
 * when the pipeline fails or the run is incomplete.
 */
export async function runBackup(source: string, scratch: string, o: BackupOptions): Promise<StoredManifest> {
  const dir = join(scratch, `backup-${++backups}`)
  const conf = join(dir, 'conf.d')
  mkdirSync(join(conf, 'snapshots.d'), { recursive: true })
  writeFileSync(join(conf, 'conf'), o.conf ?? '')
  for (const [name, body] of Object.entries(o.snapshotters ?? {})) writeFileSync(join(conf, 'snapshots.d', name), `#!/bin/bash\n${body}\n`, { mode: 0o755 })
  const run = ['--host', o.host, '--run-time', o.runTime.toISOString(), '--retain-until', (o.retainUntil ?? TEST_RETAIN_UNTIL).toISOString()]
  const common = ['--config', conf, ...o.storeArgs].map(quote).join(' ')
  const state = quote(join(dir, 'state'))
  const output = join(dir, 'manifest.ndjson')
  const snaps = join(dir, 'snaps.ndjson')
  const withSnaps = Object.keys(o.snapshotters ?? {}).length > 0
  const command = [
    'set -o pipefail',
    withSnaps ? `${bin('sysbackup-snap')} ${common} ${run.map(quote).join(' ')} > ${quote(snaps)}` : ':',
    `find ${quote(source)} -print0 | ${bin('sysbackup-pick')} --config ${quote(conf)} --stdin --null`
      + ` | ${bin('sysbackup-hash')} --config ${quote(conf)} --state-dir ${state} --lock-timeout 0`
      + ` | ${bin('sysbackup-upload')} ${common} --state-dir ${state} ${run.map(quote).join(' ')}`
      + ` | ${bin('sysbackup-manifest')} ${common} ${run.map(quote).join(' ')} --output ${quote(output)} -${withSnaps ? ` ${quote(snaps)}` : ''}`,
  ].join('\n')
  const { status, stdout, stderr } = await new Promise<{ status: number | null, stdout: string, stderr: string }>((resolve, reject) => {
    const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '', ...o.env } })
    let out = ''
    let err = ''
    child.stdout.on('data', (c: Buffer) => { out += c.toString() })
    child.stderr.on('data', (c: Buffer) => { err += c.toString() })
    child.on('error', reject)
    child.on('close', (code) => resolve({ status: code, stdout: out, stderr: err }))
  })
  if (status !== 0) throw new Error(`backup pipeline exited ${status}:\n${stderr}`)
  const manifest = parseRecords(stdout).find((r) => r.type === 'manifest')
  if (manifest === undefined || typeof manifest.versionId !== 'string') throw new Error(`no manifest record from sysbackup-manifest:\n${stdout}\n${stderr}`)
  const text = readFileSync(output, 'utf8')
  return { key: manifest.key as string, versionId: manifest.versionId, records: parseRecords(text), text }
}

/** A manifest of `entries` (sorted here by path bytes), with header, snapshots, log and trailer, stored under its key. */
export async function writeManifest(store: Store, entries: Rec[], options: ManifestOptions): Promise<StoredManifest> {
  const complete = options.complete ?? true
  const retainUntil = options.retainUntil ?? TEST_RETAIN_UNTIL
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
  const key = manifestKey({ host: options.host, stamp: keyTimestamp(options.runTime) } as RunIdentity, complete)
  const { versionId } = await store.putBuffer(key, gzipSync(full), {
    lockMode: 'GOVERNANCE', retainUntil,
    metadata: { complete: String(complete), entries: String(sorted.length), bytes: String(bytes), files: String(count('file')), digest: trailer.digest as string },
    contentType: 'application/x-ndjson',
  })
  return { key, versionId, records: [...body, trailer], text: full }
}
