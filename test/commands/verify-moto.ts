import t from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CreateBucketCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { runCommand } from '../../src/cli/command.js'
import { makeVerifyCommand } from '../../src/commands/verify.js'
import { loadConfig } from '../../src/config/load-config.js'
import { parseTemplate } from '../../src/setup/cfn-yaml.js'
import { SHIPPED_TEMPLATE } from '../../src/setup/stack-template.js'
import { S3Store } from '../../src/store/s3-store.js'
import { renderTemplate } from '../helpers/cfn-render.js'
import { evaluate, type PolicyDocument } from '../helpers/iam-policy.js'
import { testIO } from '../helpers/io.js'
import { startMoto, type Moto } from '../helpers/moto.js'
import { verifyCases } from '../helpers/verify-cases.js'
import { writeManifest } from '../helpers/backup-fixture.js'
import { makeFaultyStore, s3Faults, type FaultyStore } from '../helpers/verify-faults.js'

// s3-sysbackup verify against an Object-Lock bucket on moto_server, each
// fault made on purpose through the S3 API; and the requests it sends,
// judged against the audit role's policy in the shipped template.

const BUCKET = 'backups'
const scratch = t.testdir({})
let moto: Moto
let configDir: string
let fixture: FaultyStore | undefined

function client(): S3Client {
  return new S3Client({ endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' } })
}

t.before(async () => {
  moto = await startMoto()
  // The SDK of the in-process command finds its credentials and region here.
  Object.assign(process.env, moto.env)
  const s3 = client()
  await s3.send(new CreateBucketCommand({ Bucket: BUCKET, ObjectLockEnabledForBucket: true }))
  s3.destroy()
  const conf = `[s3]\nbucket = ${BUCKET}\nendpoint = ${moto.endpoint}\n`
  configDir = join(scratch, 'config')
  mkdirSync(configDir)
  writeFileSync(join(configDir, 'conf'), conf)
  const inspect = new S3Store({ bucket: BUCKET, client: client(), endpoint: moto.endpoint })
  fixture = await makeFaultyStore(scratch, { storeArgs: [], conf, env: moto.env, inspect, faults: s3Faults(moto, BUCKET) })
})
t.teardown(async () => {
  await moto?.stop()
})

async function run(args: string[], verify = makeVerifyCommand()) {
  const io = testIO('', { ...moto.env })
  const status = await runCommand(verify, [...args, '--config', configDir], io)
  return { status, out: io.out(), err: io.err(), records: () => io.records() }
}

verifyCases(t, () => fixture!, run)

t.test('requests of a clean verify on S3, by kind', async (t) => {
  const r = await run(['--host', 'clean', '--json'])
  const summary = r.records().find((x) => x.type === 'summary')!
  // moto answers GetObjectRetention as a GetObject (not XML), so the store reads retention by HEAD
  // instead; the 4 reads start at once, so each tried GetObjectRetention first. Real S3: 4 GetObjectRetention, 1 HEAD.
  t.same(summary.requests, { GetObject: 1, GetObjectRetention: 4, HeadObject: 1 + 4, ListObjectVersions: 2, ListObjectsV2: 1 })
})

/** One S3 request as IAM authorizes it. */
interface Sent { command: string, key?: string, versionId?: string }

/** The IAM action and resource of a request (the S3 authorization reference). */
function iamRequest(sent: Sent, bucketArn: string): { action: string, resource: string } {
  const object = `${bucketArn}/${sent.key ?? ''}`
  switch (sent.command) {
    case 'ListObjectsV2': return { action: 's3:ListBucket', resource: bucketArn }
    case 'ListObjectVersions': return { action: 's3:ListBucketVersions', resource: bucketArn }
    case 'HeadObject':
    case 'GetObject': return { action: sent.versionId !== undefined ? 's3:GetObjectVersion' : 's3:GetObject', resource: object }
    case 'GetObjectRetention': return { action: 's3:GetObjectRetention', resource: object }
    default: throw new Error(`no IAM mapping for ${sent.command}`)
  }
}

/**
 * A store whose client records every request and answers GetObjectRetention
 * as S3 does (moto lacks it: it would make the store fall back to a HEAD
 * that real S3 never sees), from a HEAD by another client.
 */
function recordingStore(sent: Sent[]): S3Store {
  const c = client()
  const side = client()
  c.middlewareStack.add((next, context) => async (args) => {
    const input = args.input as { Key?: string, VersionId?: string }
    const command = (context.commandName ?? '').replace(/Command$/, '')
    sent.push({ command, ...(input.Key !== undefined && { key: input.Key }), ...(input.VersionId !== undefined && { versionId: input.VersionId }) })
    if (command === 'GetObjectRetention') {
      const head = await side.send(new HeadObjectCommand({ Bucket: BUCKET, Key: input.Key!, VersionId: input.VersionId! }))
      const output = { $metadata: {}, Retention: { Mode: head.ObjectLockMode, RetainUntilDate: head.ObjectLockRetainUntilDate } }
      return { output, response: {} } as never
    }
    return next(args)
  }, { step: 'initialize', name: 'recordForIamTest' })
  return new S3Store({ bucket: BUCKET, client: c, endpoint: moto.endpoint })
}

t.test('every request verify sends without --read-data is allowed to the audit role; --read-data needs the restore role', async (t) => {
  const rendered = renderTemplate(parseTemplate(readFileSync(SHIPPED_TEMPLATE, 'utf8')), { accountId: '123456789012' })
  const bucketArn = `arn:aws:s3:::${rendered.physicalIds.Bucket!}`
  const bucketPolicy = rendered.resources.BucketPolicy!.Properties.PolicyDocument as PolicyDocument
  const policyOf = (name: string) => rendered.resources[name]!.Properties.PolicyDocument as PolicyDocument
  const roleArn = (role: string) => `arn:aws:iam::123456789012:role/${rendered.physicalIds[role]!}`
  const decide = (role: 'AuditRole' | 'RestoreRole', s: Sent) => evaluate([policyOf(role.replace('Role', 'Policy'))], [bucketPolicy], { principalArn: roleArn(role), ...iamRequest(s, bucketArn) }).decision

  const sent: Sent[] = []
  const verify = makeVerifyCommand({ openStore: async () => ({ store: recordingStore(sent), config: loadConfig(configDir, {}), childEnv: async () => ({}) }) })
  // Every host, every check that reads: --max-age and incomplete runs, shadowing, truncated manifests.
  const r = await run(['--max-age', '26h', '--json'], verify)
  t.equal(r.status, 1, r.err)
  t.equal(r.records().filter((x) => x.type === 'finding').length, 6)
  const actions = new Set(sent.map((s) => iamRequest(s, bucketArn).action))
  t.same([...actions].sort(), ['s3:GetObject', 's3:GetObjectRetention', 's3:GetObjectVersion', 's3:ListBucket', 's3:ListBucketVersions'])
  t.ok(sent.some((s) => s.command === 'GetObjectRetention' && s.key!.startsWith('content/')), 'content retention was read')
  t.ok(sent.some((s) => s.command === 'GetObjectRetention' && s.key!.startsWith('snapshots/')), 'snapshot retention was read')
  const denied = sent.filter((s) => decide('AuditRole', s) !== 'allow')
  t.same(denied, [], `${sent.length} requests, all allowed to the audit role`)
  t.notOk(sent.some((s) => (s.command === 'GetObject' || s.command === 'HeadObject') && !s.key!.startsWith('manifests/')), 'no content or snapshot is read or headed')

  const withData: Sent[] = []
  const reading = makeVerifyCommand({ openStore: async () => ({ store: recordingStore(withData), config: loadConfig(configDir, {}), childEnv: async () => ({}) }) })
  await run(['--host', 'clean', '--read-data', '--json'], reading)
  const downloads = withData.filter((s) => s.command === 'GetObject' && !s.key!.startsWith('manifests/'))
  t.equal(downloads.length, 4, 'three content versions and a snapshot downloaded')
  t.same(downloads.map((s) => decide('AuditRole', s)), ['implicit-deny', 'implicit-deny', 'implicit-deny', 'implicit-deny'], 'the audit role may not read content')
  t.same(downloads.map((s) => decide('RestoreRole', s)), ['allow', 'allow', 'allow', 'allow'], 'the restore role may')
})

t.test('a referenced version stored without Object Lock retention: unlocked', async (t) => {
  const s3 = client()
  t.teardown(() => s3.destroy())
  const key = `content/${'0'.repeat(64)}`
  const put = await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: 'no lock' }))
  const inspect = new S3Store({ bucket: BUCKET, client: client(), endpoint: moto.endpoint })
  await writeManifest(inspect, [{ type: 'file', path: '/unlocked', mode: '0644', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: '1:1', nlink: 1, size: 7, key, versionId: put.VersionId! }],
    { host: 'zz-unlocked', runTime: new Date(Date.now() - 3600_000) })
  const r = await run(['--host', 'zz-unlocked', '--json'])
  t.equal(r.status, 1)
  t.match(r.records().filter((x) => x.type === 'finding'), [{ kind: 'unlocked', host: 'zz-unlocked', key, versionId: put.VersionId, path: '/unlocked',
    detail: 'no Object Lock retention; it must be retained until 2099-01-01T00:00:00.000Z' }])
})
