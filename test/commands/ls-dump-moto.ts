import t from 'tap'
import { readFileSync, mkdirSync, writeFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3'
import { runBin } from '../helpers/bin.js'
import { runBackup } from '../helpers/backup-fixture.js'
import { startMoto, type Moto } from '../helpers/moto.js'
import { makeSampleTree } from '../helpers/sample-tree.js'

// s3-sysbackup ls and dump as processes against a real S3 API (moto): the
// SDK's streamed bodies, gzip-encoded and not, as the local store's tests cannot show.

let moto: Moto
t.before(async () => {
  moto = await startMoto()
})
t.teardown(async () => { await moto.stop() })

t.test('ls and dump read a backup in an S3 bucket: paths as stored, content byte for byte', async (t) => {
  const s3 = new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' }, forcePathStyle: true })
  t.teardown(() => s3.destroy())
  await s3.send(new CreateBucketCommand({ Bucket: 'backups', ObjectLockEnabledForBucket: true }))
  const dir = t.testdir({})
  const confText = `[s3]\nbucket = backups\nendpoint = ${moto.endpoint}\n`
  const conf = join(dir, 'conf.d')
  mkdirSync(conf)
  writeFileSync(join(conf, 'conf'), confText)
  const source = join(dir, 'source')
  makeSampleTree(source, 2 * 1024 * 1024)
  const manifest = await runBackup(source, join(dir, 'work'), { host: 'web1', runTime: new Date('2026-11-26T08:00:00Z'), storeArgs: [], conf: confText, env: moto.env })
  const cli = (...args: string[]) => runBin('s3-sysbackup', [args[0]!, '--config', conf, '--host', 'web1', ...args.slice(1)], { env: moto.env, timeoutMs: 60_000 })

  const listed = await cli('ls', join(source, 'big'))
  t.equal(listed.status, 0, listed.stderr)
  const expected = manifest.records.filter((r) => typeof r.path === 'string' && (r.path === join(source, 'big') || r.path.startsWith(join(source, 'big') + '/'))).map((r) => r.path)
  t.ok(expected.length >= 3, 'the sample tree has large files')
  t.same(listed.stdout.split('\n').filter((l) => l !== ''), expected, 'the entries under the pattern, in manifest order')

  for (const rel of ['big/text.log', 'big/random.bin', 'etc/secret']) {
    const out = join(dir, rel.replace('/', '-'))
    const r = await cli('dump', '-o', out, join(source, rel))
    t.equal(r.status, 0, `${rel}: ${r.stderr}`)
    t.ok(readFileSync(out).equals(readFileSync(join(source, rel))), `${rel}: the same bytes, through the SDK's body stream`)
    t.equal(statSync(out).mode & 0o777, 0o600)
  }
  const text = await cli('dump', join(source, 'etc/secret'))
  t.equal(text.stdout, readFileSync(join(source, 'etc/secret'), 'utf8'), 'to standard output')
  const missing = await cli('dump', join(source, 'nowhere'))
  t.equal(missing.status, 2)
  t.equal(missing.stderr, `s3-sysbackup dump: ${join(source, 'nowhere')}: not in backup ${manifest.key} (see s3-sysbackup ls)\n`)
})
