/**
 * A store of several hosts' real backups, each host with one fault made on
 * purpose, for the tests of `s3-sysbackup verify` on both stores:
 *
 *   clean      nothing wrong (and a snapshot)
 *   deleted    a referenced content version deleted with governance bypass
 *   shortened  a referenced content version's retention shortened under the manifest's
 *   replaced   a content key given a new version with different bytes
 *   truncated  the manifest replaced by a cut-off copy of itself (a new version)
 *   partial    an incomplete run after a complete one
 *   old        a complete backup three days old (stale for --max-age 26h)
 *   corrupt    a manifest pinning a version whose bytes do not hash to its key
 *
 * Every host backs up files of its own (its name is in them), so a fault
 * on one host's content touches no other host.
 */
import { randomBytes, createHash } from 'node:crypto'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { DeleteObjectCommand, PutObjectRetentionCommand, S3Client } from '@aws-sdk/client-s3'
import { LocalStore } from '../../src/store/local-store.js'
import type { Store } from '../../src/store/store.js'
import type { Rec } from '../../src/protocol/records.js'
import { runBackup, TEST_RETAIN_UNTIL, writeManifest, type StoredManifest } from './backup-fixture.js'
import type { Moto } from './moto.js'

export const HOUR_MS = 3600_000
export const HOSTS = ['clean', 'deleted', 'shortened', 'replaced', 'truncated', 'partial', 'old', 'corrupt'] as const
export type FaultHost = (typeof HOSTS)[number]

/** How faults are made in one kind of store: what the Store interface never allows. */
export interface FaultMaker {
  /** Deletes a locked GOVERNANCE version, as an administrator with s3:BypassGovernanceRetention could. */
  deleteWithBypass(key: string, versionId: string): Promise<void>
  /** Shortens a version's retention (S3: PutObjectRetention with bypass; local: its metadata file edited directly). */
  shortenRetention(key: string, versionId: string, until: Date): Promise<void>
}

/** Faults in a local directory store. Shortening is done by editing `<versionId>.json`: LocalStore refuses it, and the Store interface has no way. */
export function localFaults(storeDir: string): FaultMaker {
  return {
    async deleteWithBypass(key, versionId) {
      await LocalStore.open(storeDir).deleteVersion(key, versionId, { bypassGovernance: true })
    },
    async shortenRetention(key, versionId, until) {
      const file = join(storeDir, key, `${versionId}.json`)
      const meta = JSON.parse(readFileSync(file, 'utf8')) as { retainUntil: string }
      meta.retainUntil = until.toISOString()
      writeFileSync(file, JSON.stringify(meta, null, 2) + '\n')
    },
  }
}

/** Faults in a bucket on moto, through the S3 API with the governance bypass. */
export function s3Faults(moto: Moto, bucket: string): FaultMaker {
  const client = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } })
  return {
    async deleteWithBypass(key, versionId) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId, BypassGovernanceRetention: true }))
    },
    async shortenRetention(key, versionId, until) {
      await client.send(new PutObjectRetentionCommand({
        Bucket: bucket, Key: key, VersionId: versionId, BypassGovernanceRetention: true, ChecksumAlgorithm: 'SHA256',
        Retention: { Mode: 'GOVERNANCE', RetainUntilDate: until },
      }))
    },
  }
}

export interface FaultyStore {
  manifests: Record<FaultHost, StoredManifest>
  /** The complete backup of `partial` (its incomplete run is manifests.partial). */
  partialComplete: StoredManifest
  /** What each fault touched. */
  touched: {
    deleted: { key: string, versionId: string, path: string }
    shortened: { key: string, versionId: string, path: string, until: Date }
    replaced: { key: string, versionId: string, newVersionId: string, path: string }
    truncated: { key: string, newVersionId: string }
    corrupt: { key: string, versionId: string, path: string }
  }
  /** Run times. */
  now: Date
}

/** The content record of `name` in a stored manifest. */
export function fileRecord(m: StoredManifest, name: string): Rec & { key: string, versionId: string, path: string } {
  const rec = m.records.find((r) => r.type === 'file' && typeof r.path === 'string' && r.path.endsWith(`/${name}`))
  if (rec === undefined) throw new Error(`no file ${name} in ${m.key}`)
  return rec as Rec & { key: string, versionId: string, path: string }
}

/**
 * Backs up every host of HOSTS into the store (real pipelines, as
 * processes), then makes each host's fault. `storeArgs`, `conf` and `env`
 * say how the stages reach the store; `inspect` is a store to write
 * through; `scratch` a directory of the test's own.
 */
export async function makeFaultyStore(scratch: string, o: { storeArgs: string[], conf?: string, env?: NodeJS.ProcessEnv, inspect: Store, faults: FaultMaker }): Promise<FaultyStore> {
  const now = new Date()
  const manifests: Partial<Record<FaultHost, StoredManifest>> = {}
  const backup = async (host: string, runTime: Date, snapshot = false) => {
    const src = join(scratch, `src-${host}-${runTime.getTime()}`)
    mkdirSync(join(src, 'etc'), { recursive: true })
    writeFileSync(join(src, 'etc', `${host}.conf`), `settings of ${host}\n`.repeat(200))
    writeFileSync(join(src, 'data.bin'), Buffer.concat([Buffer.from(host), randomBytes(3000)]))
    writeFileSync(join(src, 'notes.txt'), `notes of ${host}\n`)
    return runBackup(src, scratch, {
      host, runTime, storeArgs: o.storeArgs, ...(o.conf !== undefined && { conf: o.conf }), ...(o.env !== undefined && { env: o.env }),
      ...(snapshot && { snapshotters: { dump: `printf 'the dump of ${host}\\n' >&"$1"` } }),
    })
  }
  const recent = new Date(now.getTime() - HOUR_MS)
  for (const host of ['clean', 'deleted', 'shortened', 'replaced', 'truncated'] as const) manifests[host] = await backup(host, recent, host === 'clean')
  manifests.old = await backup('old', new Date(now.getTime() - 72 * HOUR_MS))
  const partialComplete = await backup('partial', new Date(now.getTime() - 2 * HOUR_MS))
  const entries = partialComplete.records.filter((r) => ['file', 'dir', 'symlink', 'special'].includes(r.type))
  manifests.partial = await writeManifest(o.inspect, entries, {
    host: 'partial', runTime: recent, complete: false,
    log: [{ type: 'error', stage: 'sysbackup-hash', message: '/srv/unreadable: EACCES', code: 'EACCES', path: '/srv/unreadable' }],
  })

  const deleted = fileRecord(manifests.deleted!, 'data.bin')
  await o.faults.deleteWithBypass(deleted.key, deleted.versionId)
  const shortened = fileRecord(manifests.shortened!, 'data.bin')
  const until = new Date('2030-01-01T00:00:00Z')
  await o.faults.shortenRetention(shortened.key, shortened.versionId, until)
  const replaced = fileRecord(manifests.replaced!, 'replaced.conf')
  const { versionId: newVersionId } = await o.inspect.putBuffer(replaced.key, Buffer.from('not the content its key promises\n'), { lockMode: 'GOVERNANCE', retainUntil: TEST_RETAIN_UNTIL })
  const whole = gzipSync(manifests.truncated!.text)
  const cut = await o.inspect.putBuffer(manifests.truncated!.key, whole.subarray(0, Math.floor(whole.length / 2)), { lockMode: 'GOVERNANCE', retainUntil: TEST_RETAIN_UNTIL, contentType: 'application/x-ndjson' })

  // corrupt: content stored under the hash of other bytes, and a manifest that pins it.
  const promised = Buffer.from('what the manifest promises\n')
  const sha = createHash('sha256').update(promised).digest('hex')
  const wrong = await o.inspect.putBuffer(`content/${sha}`, Buffer.from('something else entirely\n'), { lockMode: 'GOVERNANCE', retainUntil: TEST_RETAIN_UNTIL })
  const corruptFile = { type: 'file', path: '/srv/promised.txt', mode: '0644', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: '1:1', nlink: 1,
    size: promised.length, sha256: sha, readSize: promised.length, gzip: false, key: `content/${sha}`, versionId: wrong.versionId, retainUntil: TEST_RETAIN_UNTIL.toISOString() }
  manifests.corrupt = await writeManifest(o.inspect, [{ type: 'dir', path: '/srv', mode: '0755', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: '1:2', nlink: 2 }, corruptFile],
    { host: 'corrupt', runTime: recent })

  return {
    manifests: manifests as Record<FaultHost, StoredManifest>,
    partialComplete,
    touched: {
      deleted: { key: deleted.key, versionId: deleted.versionId, path: deleted.path },
      shortened: { key: shortened.key, versionId: shortened.versionId, path: shortened.path, until },
      replaced: { key: replaced.key, versionId: replaced.versionId, newVersionId, path: replaced.path },
      truncated: { key: manifests.truncated!.key, newVersionId: cut.versionId },
      corrupt: { key: `content/${sha}`, versionId: wrong.versionId, path: '/srv/promised.txt' },
    },
    now,
  }
}
