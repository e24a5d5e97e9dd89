import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { runBin } from '../helpers/bin.js'
import { runBackup } from '../helpers/backup-fixture.js'
import { startMoto, type Moto } from '../helpers/moto.js'
import { makeSampleTree } from '../helpers/sample-tree.js'
import { compareTrees } from '../helpers/tree-compare.js'

let moto: Moto
t.before(async () => {
  moto = await startMoto()
  Object.assign(process.env, moto.env) // the in-process store finds moto and its credentials as a process would
})
t.teardown(async () => { await moto.stop() })

t.test('a tree with every kind of entry comes back exactly from S3 (moto)', async (t) => {
  const s3 = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, forcePathStyle: true })
  await s3.send(new CreateBucketCommand({ Bucket: 'backups', ObjectLockEnabledForBucket: true }))
  const dir = t.testdir({})
  const conf = join(dir, 'conf.d')
  mkdirSync(conf)
  writeFileSync(join(conf, 'conf'), `[s3]\nbucket = backups\nendpoint = ${moto.endpoint}\n`)
  const source = join(dir, 'source')
  makeSampleTree(source, 1024 * 1024)
  // The real pipeline, as processes, into the bucket.
  const manifest = await runBackup(source, join(dir, 'work'), {
    host: 'web1', runTime: new Date('2026-11-26T08:00:00Z'), storeArgs: [], conf: `[s3]\nbucket = backups\nendpoint = ${moto.endpoint}\n`, env: moto.env,
  })

  const target = join(dir, 'target')
  const r = await runBin('sysbackup-restore', ['--config', conf, '--host', 'web1', '--target', target], { env: moto.env, timeoutMs: 120_000 })
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stderr, '')
  t.same(await compareTrees(source, join(target, source)), [], 'restored tree is identical')
  const trailer = r.records().at(-1)!
  t.match(trailer, { type: 'trailer', ok: true, counts: { failed: 0, linked: 2, symlinked: 3, specials: 3 } })
  t.match(r.records()[0], { manifest: manifest.key })
  const counts = trailer.counts as Record<string, number>
  const fetched = r.records().filter((x) => x.type === 'restore' && x.entry === 'file' && x.action === 'written' && (x.size as number) > 0).length
  t.equal(counts['req.GetObject']! + counts.copiedLocally!, fetched + 1, 'one GetObject per file with content (or a local copy of one), and the manifest')
  t.equal(counts['req.ListObjectsV2'], 1, 'choosing by host lists once')
})
