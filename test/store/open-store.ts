/**
 * openStore: which store a configuration and command line name, against
 * real directories and a real moto_server (S3 and CloudFormation).
 */
import t, { type Test } from 'tap'
import { mkdirSync, realpathSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CloudFormationClient, CreateStackCommand } from '@aws-sdk/client-cloudformation'
import { CreateBucketCommand, ListBucketsCommand, S3Client } from '@aws-sdk/client-s3'
import { ConfigError, FatalError } from '../../src/cli/errors.js'
import { loadConfig, type LoadedConfig } from '../../src/config/load-config.js'
import { storeErrorCode } from '../../src/store/errors.js'
import { LocalStore } from '../../src/store/local-store.js'
import { openStore, STORE_OPTION } from '../../src/store/open-store.js'
import { S3Store } from '../../src/store/s3-store.js'
import { startMoto, type Moto } from '../helpers/moto.js'

const DAY = 86_400_000
let moto: Moto

t.before(async () => {
  moto = await startMoto()
  Object.assign(process.env, moto.env)
})
t.teardown(async () => {
  await moto.stop()
})

const bases = new WeakMap<Test, string>()
let configs = 0

/** A fresh configuration directory (under the test's own) with `conf` holding `text`, and other files. */
function config(t: Test, text: string, files: Record<string, string> = {}): LoadedConfig {
  let base = bases.get(t)
  if (base === undefined) bases.set(t, base = t.testdir())
  const dir = join(base, `config-${++configs}`)
  mkdirSync(dir)
  for (const [name, content] of Object.entries({ conf: text, ...files })) writeFileSync(join(dir, name), content)
  return loadConfig(dir, {})
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

function s3(): S3Client {
  return new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } })
}

t.test('[s3] bucket = file:DIR is a local store, relative to the configuration directory', async (t) => {
  const c = config(t, '[s3]\nbucket = file:store\n')
  const store = await openStore(c, { access: 'write' })
  t.ok(store instanceof LocalStore)
  t.equal(store.id, `file:${realpathSync(join(c.dir!, 'store'))}`)
  await store.putBuffer('content/a', Buffer.from('a'), { lockMode: 'GOVERNANCE', retainUntil: new Date(Date.now() + DAY) })
  const again = await openStore(c)
  t.ok(await again.head('content/a'), 'reopened for reading')

  const abs = join(bases.get(t)!, 'abs-store')
  const url = await openStore(config(t, `[s3]\nbucket = file://${abs}\n`), { access: 'write' })
  t.equal(url.id, `file:${realpathSync(abs)}`, 'file:///absolute/path works too')

  const missing = await rejects(openStore(config(t, '[s3]\nbucket = file:nowhere\n')))
  t.equal(storeErrorCode(missing), 'NoSuchStore', 'reading never creates a store')
  t.ok(missing instanceof FatalError)
  const empty = await rejects(openStore(config(t, '[s3]\nbucket = file:\n')))
  t.ok(empty instanceof ConfigError)
  t.match((empty as Error).message, /conf: \[s3\] bucket "file:" needs a directory/)
})

t.test('--store DIR overrides the configured bucket', async (t) => {
  const c = config(t, '[s3]\nbucket = some-bucket\n')
  const cwd = join(bases.get(t)!, 'cwd')
  mkdirSync(join(cwd, 'here'), { recursive: true })
  const store = await openStore(c, { storeDir: 'here/store', cwd, access: 'write' })
  t.ok(store instanceof LocalStore)
  t.equal(store.id, `file:${realpathSync(join(cwd, 'here', 'store'))}`, 'relative to the working directory')
  t.equal(STORE_OPTION.name, 'store')
  t.equal(STORE_OPTION.arg, 'DIR')
})

t.test('[s3] bucket and endpoint open an S3Store; writing needs Object Lock', async (t) => {
  await moto.reset()
  await s3().send(new CreateBucketCommand({ Bucket: 'backups', ObjectLockEnabledForBucket: true }))
  await s3().send(new CreateBucketCommand({ Bucket: 'unlocked' }))
  const c = config(t, `[s3]\nbucket = backups\nendpoint = ${moto.endpoint}\nforce_path_style = true\n`)
  const store = await openStore(c, { access: 'write' })
  t.ok(store instanceof S3Store)
  t.equal(store.id, `s3:backups@${moto.endpoint}`)
  t.same(store.requests.snapshot(), { GetObjectLockConfiguration: 1 }, 'the lock was checked on opening')
  const { versionId } = await store.putBuffer('content/a', Buffer.from('a'), { lockMode: 'GOVERNANCE', retainUntil: new Date(Date.now() + DAY) })
  t.equal((await store.head('content/a'))!.versionId, versionId)

  const bad = await rejects(openStore(config(t, `[s3]\nbucket = unlocked\nendpoint = ${moto.endpoint}\n`), { access: 'write' }))
  t.equal(storeErrorCode(bad), 'ObjectLockNotEnabled', 'refused when opening for writing')
  t.ok(await openStore(config(t, `[s3]\nbucket = unlocked\nendpoint = ${moto.endpoint}\n`)), 'reading is fine')

  const override = await openStore(config(t, '[s3]\nbucket = backups\nendpoint = http://192.0.2.1:9\n'), { endpoint: moto.endpoint })
  t.equal(override.id, `s3:backups@${moto.endpoint}`, 'an endpoint override wins over [s3] endpoint')
  t.ok(await override.head('content/a'), 'and is used')

  const fromEnv = await openStore(config(t, '[s3]\nbucket = backups\n'))
  t.equal(fromEnv.id, `s3:backups@${moto.endpoint}`, 'AWS_ENDPOINT_URL is honoured and named in the id')

  const notUrl = await rejects(openStore(config(t, '[s3]\nbucket = backups\nendpoint = s3.example.com\n')))
  t.ok(notUrl instanceof ConfigError)
  t.match((notUrl as Error).message, /conf: \[s3\] endpoint "s3\.example\.com" is not a URL/)
})

t.test('without a bucket, the CloudFormation export names it', async (t) => {
  await moto.reset()
  const cfn = new CloudFormationClient({ endpoint: moto.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } })
  const template = (exportName: string) => JSON.stringify({
    Resources: { Bucket: { Type: 'AWS::S3::Bucket' } },
    Outputs: { BucketName: { Value: { Ref: 'Bucket' }, Export: { Name: exportName } } },
  })
  await cfn.send(new CreateStackCommand({ StackName: 's3-sysbackup', TemplateBody: template('backup-bucket') }))
  await cfn.send(new CreateStackCommand({ StackName: 'other', TemplateBody: template('other-bucket') }))
  const buckets = (await s3().send(new ListBucketsCommand({}))).Buckets!.map((b) => b.Name!)
  t.equal(buckets.length, 2, 'the stacks made their buckets')

  const store = await openStore(config(t, '[cloudformation]\nregion = us-east-1\n'))
  t.ok(store instanceof S3Store)
  const bucket = (store as S3Store).bucket
  t.ok(buckets.includes(bucket), `the default export backup-bucket names ${bucket}`)
  t.ok(bucket.startsWith('s3-sysbackup-'), 'the bucket of the s3-sysbackup stack')
  t.same(await store.head('content/none'), null, 'and it is usable')

  const other = await openStore(config(t, '[cloudformation]\nexport = other-bucket\n'))
  t.ok((other as S3Store).bucket.startsWith('other-'), '[cloudformation] export chooses another; the region defaults to the AWS one')

  // moto's CloudFormation ignores ObjectLockEnabled, so the bucket it made cannot take a backup.
  t.equal(storeErrorCode(await rejects(openStore(config(t, '[content]\ndays_retained = 3\n'), { access: 'write' }))), 'ObjectLockNotEnabled')

  const missing = await rejects(openStore(config(t, '[cloudformation]\nexport = nope\nregion = us-east-1\n')))
  t.ok(missing instanceof ConfigError, 'a missing export is a configuration error')
  t.equal((missing as Error).message, 'no CloudFormation export "nope" in region us-east-1: set [s3] bucket, or [cloudformation] export and region to name the export of s3-sysbackup create-resources')
})

t.test('[aws] settings reach the S3 client', async (t) => {
  const creds = '[default]\naws_access_key_id = AKIADEFAULT\naws_secret_access_key = s1\n\n[backup]\naws_access_key_id = AKIABACKUP\naws_secret_access_key = s2\n'
  const c = config(t, '[aws]\ncredentials_file = creds\nprofile = backup\nregion = eu-west-3\n[s3]\nbucket = b\n', { creds })
  const store = await openStore(c) as S3Store
  const used = await store.client.config.credentials()
  t.equal(used.accessKeyId, 'AKIABACKUP', 'the profile of the credentials file (relative to the configuration), not the environment\'s')
  t.equal(await store.client.config.region(), 'eu-west-3')

  const bad = await rejects(openStore(config(t, '[aws]\nrole_arn = arn:aws:iam::123456789012:role/backup\n[s3]\nbucket = b\n')))
  t.ok(bad instanceof ConfigError)
  t.match((bad as Error).message, /conf: \[aws\] role_arn is used only with \[aws\] credentials_file/)
})
