/**
 * What is particular to S3Store, against a real moto_server and small local
 * HTTP servers that misbehave on purpose: error mapping and classification,
 * the Object Lock check, the GetObjectRetention fallback, retries counted,
 * timeouts, keys S3 allows. The Store contract is tested in behaviour.ts.
 */
import t, { type Test } from 'tap'
import { createServer, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { CreateBucketCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { FatalError } from '../../src/cli/errors.js'
import { EXIT } from '../../src/cli/exit-status.js'
import { NotFoundError, StoreError, StoreFatalError, storeErrorCode } from '../../src/store/errors.js'
import { fromSdkError } from '../../src/store/s3-errors.js'
import { S3Store } from '../../src/store/s3-store.js'
import { WHOLE_BODY_BYTES } from '../../src/store/whole-body.js'
import { transportConfig, type TransportSettings } from '../../src/aws/transport.js'
import { freePort, startMoto, type Moto } from '../helpers/moto.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
const DAY = 86_400_000

let moto: Moto
t.before(async () => {
  moto = await startMoto()
})
t.teardown(async () => {
  await moto.stop()
})

function client(endpoint: string, transport: Partial<TransportSettings> = {}): S3Client {
  return new S3Client({
    endpoint, region: 'us-east-1', forcePathStyle: true,
    credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    ...transportConfig(transport),
  })
}

function lock() {
  return { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + DAY) }
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

async function drain<T>(pages: AsyncIterable<T[]>): Promise<void> {
  for await (const _ of pages);
}

t.test('a missing bucket stops the run with one clear line', async (t) => {
  await moto.reset()
  const store = new S3Store({ bucket: 'no-such-bucket', client: client(moto.endpoint) })
  t.equal(store.id, 's3:no-such-bucket', 'no endpoint given: plain bucket id')
  const put = await rejects(store.putBuffer('content/x', Buffer.from('x'), lock()))
  t.ok(put instanceof StoreFatalError && put instanceof FatalError, 'a FatalError')
  t.equal((put as FatalError).exitStatus, EXIT.FATAL)
  t.match((put as Error).message, /^GetObjectLockConfiguration s3:\/\/no-such-bucket: NoSuchBucket: The specified bucket does not exist$/)

  const head = await rejects(store.head('content/x'))
  t.equal(storeErrorCode(head), 'NoSuchBucket', 'head tells a missing bucket from a missing key')
  t.match((head as Error).message, /^HeadBucket s3:\/\/no-such-bucket: NoSuchBucket: bucket no-such-bucket does not exist$/)
  const list = await rejects(drain(store.listVersions('content/')))
  t.ok(list instanceof StoreFatalError)
  t.match((list as Error).message, /^ListObjectVersions s3:\/\/no-such-bucket\/content\/: NoSuchBucket: /)
  const get = await rejects(store.get('content/x'))
  t.ok(get instanceof StoreFatalError, 'get: fatal, not "not found"')
})

t.test('a bucket without Object Lock is refused before anything is written', async (t) => {
  await moto.reset()
  const c = client(moto.endpoint)
  await c.send(new CreateBucketCommand({ Bucket: 'plain' }))
  const store = new S3Store({ bucket: 'plain', client: c, endpoint: moto.endpoint })
  t.equal(store.id, `s3:plain@${moto.endpoint}`)
  const err = await rejects(store.putBuffer('content/x', Buffer.from('x'), lock()))
  t.ok(err instanceof StoreFatalError)
  t.equal(storeErrorCode(err), 'ObjectLockNotEnabled')
  t.match((err as Error).message, /^GetObjectLockConfiguration s3:\/\/plain: ObjectLockNotEnabled: bucket plain does not have Object Lock enabled/)
  t.same(store.requests.snapshot(), { GetObjectLockConfiguration: 1 }, 'no PutObject sent')
  t.equal(await store.head('content/x'), null, 'reading is still allowed')

  // Had it been sent anyway, S3's own refusal maps to the same error.
  const raw = await rejects(c.send(new PutObjectCommand({ Bucket: 'plain', Key: 'k', Body: 'x', ObjectLockMode: 'GOVERNANCE', ObjectLockRetainUntilDate: new Date(Date.now() + DAY) })))
  const mapped = fromSdkError('PutObject', 's3://plain/k', raw)
  t.ok(mapped instanceof StoreFatalError)
  t.equal(storeErrorCode(mapped), 'ObjectLockNotEnabled')
})

t.test('the Object Lock check costs one request per bucket and process', async (t) => {
  await moto.reset()
  const c = client(moto.endpoint)
  await c.send(new CreateBucketCommand({ Bucket: 'once', ObjectLockEnabledForBucket: true }))
  const a = new S3Store({ bucket: 'once', client: c, endpoint: `${moto.endpoint}/` })
  await a.putBuffer('k1', Buffer.from('1'), lock())
  await a.putBuffer('k2', Buffer.from('2'), lock())
  t.same(a.requests.snapshot(), { GetObjectLockConfiguration: 1, PutObject: 2 })
  const b = new S3Store({ bucket: 'once', client: client(moto.endpoint), endpoint: `${moto.endpoint}/` })
  await b.checkObjectLock()
  t.same(b.requests.snapshot(), {}, 'a second store on the same bucket trusts the first check')
})

t.test('getRetention falls back to HeadObject where GetObjectRetention is missing (moto)', async (t) => {
  await moto.reset()
  const c = client(moto.endpoint)
  await c.send(new CreateBucketCommand({ Bucket: 'ret', ObjectLockEnabledForBucket: true }))
  const store = new S3Store({ bucket: 'ret', client: c, endpoint: moto.endpoint })
  const l = lock()
  const { versionId } = await store.putBuffer('content/r', Buffer.from('r'), l)
  let before = store.requests.snapshot()
  t.same(await store.getRetention('content/r', versionId), { mode: 'GOVERNANCE', retainUntil: l.retainUntil })
  t.same(store.requests.since(before), { GetObjectRetention: 1, HeadObject: 1 }, 'tried once, then HEAD')
  before = store.requests.snapshot()
  t.same(await store.getRetention('content/r', versionId), { mode: 'GOVERNANCE', retainUntil: l.retainUntil })
  t.same(store.requests.since(before), { HeadObject: 1 }, 'and HEAD only from then on')
})

t.test('an extension the store cannot judge is left to S3', async (t) => {
  await moto.reset()
  const c = client(moto.endpoint)
  await c.send(new CreateBucketCommand({ Bucket: 'ext', ObjectLockEnabledForBucket: true }))
  const writer = new S3Store({ bucket: 'ext', client: c })
  const l = lock()
  const { versionId } = await writer.putBuffer('content/e', Buffer.from('e'), l)
  // A new process knows nothing of the version: it sends the request, and real S3 would refuse a shortening.
  const other = new S3Store({ bucket: 'ext', client: client(moto.endpoint) })
  const later = new Date(l.retainUntil.getTime() + DAY)
  await other.extendRetention('content/e', versionId, 'GOVERNANCE', later)
  t.same(other.requests.snapshot(), { PutObjectRetention: 1 })
  t.same((await other.head('content/e', versionId))!.retainUntil, later)
  // Once it has seen the version (HEAD above), it guards by itself.
  const err = await rejects(other.extendRetention('content/e', versionId, 'GOVERNANCE', l.retainUntil))
  t.equal(storeErrorCode(err), 'WouldShortenRetention')
})

t.test('keys with spaces, unicode and shell characters round-trip', async (t) => {
  await moto.reset()
  const c = client(moto.endpoint)
  await c.send(new CreateBucketCommand({ Bucket: 'keys', ObjectLockEnabledForBucket: true }))
  const store = new S3Store({ bucket: 'keys', client: c })
  const key = 'snapshots/höst/2026-11-26T08:00:00Z-my dump;$(x)&.sql.gz'
  const { versionId } = await store.putBuffer(key, Buffer.from('dump'), lock())
  t.equal((await store.head(key))!.versionId, versionId)
  const listed = []
  for await (const page of store.listVersions('snapshots/höst/')) listed.push(...page)
  t.same(listed.map((v) => v.key), [key])
})

t.test('a body of up to 1 MiB comes whole, downloaded before get answers; a larger one streams', async (t) => {
  await moto.reset()
  const c = client(moto.endpoint)
  await c.send(new CreateBucketCommand({ Bucket: 'bodies', ObjectLockEnabledForBucket: true }))
  const store = new S3Store({ bucket: 'bodies', client: c })
  const small = Buffer.alloc(WHOLE_BODY_BYTES, 's')
  const big = Buffer.alloc(WHOLE_BODY_BYTES + 1, 'b')
  const smallVersion = (await store.putBuffer('content/small', small, lock())).versionId
  await store.putBuffer('content/big', big, lock())
  const got = await store.get('content/small', smallVersion)
  t.ok(got.whole?.equals(small), 'the whole body, in memory, at exactly the limit')
  t.equal(got.info.versionId, smallVersion)
  const streamed: Buffer[] = []
  for await (const chunk of got.body) streamed.push(chunk as Buffer)
  t.ok(Buffer.concat(streamed).equals(small), 'its stream yields the same bytes')
  const large = await store.get('content/big')
  t.equal(large.whole, undefined, 'one byte more: no whole body')
  const chunks: Buffer[] = []
  for await (const chunk of large.body) chunks.push(chunk as Buffer)
  t.ok(Buffer.concat(chunks).equals(big), 'it streams every byte')
})

/** An HTTP server answering every request with `handler`; closed at teardown. */
async function fakeS3(t: Test, handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server: Server = createServer(handler)
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`
}

t.test('retries are counted, and a persistent failure is one line naming the attempts', async (t) => {
  let hits = 0
  const endpoint = await fakeS3(t, (req, res) => {
    hits++
    req.resume()
    res.writeHead(503, { 'content-type': 'application/xml' })
    res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>Please reduce your request rate.</Message></Error>')
  })
  const store = new S3Store({ bucket: 'busy', client: client(endpoint, { maxAttempts: 3 }) })
  const err = await rejects(drain(store.listLatest('content/')))
  t.equal(hits, 3, 'three attempts reached the server')
  t.same(store.requests.snapshot(), { ListObjectsV2: 3 }, 'each attempt counted (S3 bills each)')
  t.equal(store.requests.retries, 2)
  t.ok(err instanceof StoreError && !(err instanceof NotFoundError), 'a per-operation StoreError: throttling is not fatal')
  t.equal((err as Error).message, 'ListObjectsV2 s3://busy/content/: SlowDown: Please reduce your request rate. (after 3 attempts)')
})

t.test('a silent server times out and an unreachable one is fatal', async (t) => {
  const silent = await fakeS3(t, () => { /* never answers */ })
  const store = new S3Store({ bucket: 'b', client: client(silent, { maxAttempts: 2, socketTimeoutMs: 300 }) })
  const started = Date.now()
  const err = await rejects(store.head('content/x'))
  t.ok(Date.now() - started < 10_000, 'gave up after the socket timeout')
  t.equal(storeErrorCode(err), 'TimeoutError')
  t.equal(store.requests.get('HeadObject'), 2, 'the timed-out attempt was retried')

  const closed = `http://127.0.0.1:${await freePort()}`
  const gone = new S3Store({ bucket: 'b', client: client(closed, { maxAttempts: 2 }) })
  const refused = await rejects(gone.head('content/x'))
  t.ok(refused instanceof StoreFatalError, 'nothing later can succeed: stop the run')
  t.match((refused as Error).message, /^HeadObject s3:\/\/b\/content\/x: ECONNREFUSED: /)
})

t.test('access denied stops the run, on HEAD (no body, no code) as on other requests', async (t) => {
  const endpoint = await fakeS3(t, (req, res) => {
    req.resume()
    res.writeHead(403, { 'content-type': 'application/xml' })
    res.end(req.method === 'HEAD' ? undefined : '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>')
  })
  const store = new S3Store({ bucket: 'guarded', client: client(endpoint, { maxAttempts: 1 }) })
  const head = await rejects(store.head('content/x'))
  t.ok(head instanceof StoreFatalError, 'HEAD 403 is fatal')
  t.match((head as Error).message, /^HeadObject s3:\/\/guarded\/content\/x: AccessDenied: HTTP 403 Forbidden$/)
  const put = await rejects(store.putBuffer('content/x', Buffer.from('x'), lock()))
  t.ok(put instanceof StoreFatalError)
  t.equal((put as Error).message, 'GetObjectLockConfiguration s3://guarded: AccessDenied: Access Denied')
})

/**
 * A fake S3 holding one version's lock and enforcing S3's retention rules
 * (moto does not): no shortening, no leaving COMPLIANCE. `denyAll` refuses
 * every change, as a missing permission would.
 */
async function lockServer(t: Test, lock: { mode: string, until: Date }, denyAll = false): Promise<{ endpoint: string, puts: string[] }> {
  const puts: string[] = []
  const endpoint = await fakeS3(t, (req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.method === 'HEAD') {
        res.writeHead(200, {
          'x-amz-version-id': 'v1', 'content-length': '0', 'last-modified': new Date().toUTCString(),
          'x-amz-object-lock-mode': lock.mode, 'x-amz-object-lock-retain-until-date': lock.until.toISOString(),
        })
        return res.end()
      }
      const body = Buffer.concat(chunks).toString()
      const mode = /<Mode>(\w+)<\/Mode>/.exec(body)![1]!
      const until = new Date(/<RetainUntilDate>([^<]+)<\/RetainUntilDate>/.exec(body)![1]!)
      puts.push(`${mode} ${until.toISOString()}`)
      if (denyAll || until < lock.until || (lock.mode === 'COMPLIANCE' && mode !== 'COMPLIANCE')) {
        res.writeHead(403, { 'content-type': 'application/xml' })
        return res.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>')
      }
      Object.assign(lock, { mode, until })
      res.writeHead(200)
      res.end()
    })
  })
  return { endpoint, puts }
}

t.test('a refused extension is checked again: another machine may have extended further', async (t) => {
  const d = (days: number) => new Date(Date.UTC(2030, 0, 1) + days * DAY)

  const further = { mode: 'GOVERNANCE', until: d(30) }
  const a = await lockServer(t, further)
  const storeA = new S3Store({ bucket: 'b', client: client(a.endpoint, { maxAttempts: 1 }) })
  await storeA.extendRetention('content/x', 'v1', 'GOVERNANCE', d(20))
  t.same(storeA.requests.snapshot(), { HeadObject: 1, PutObjectRetention: 1 }, 'refused, looked, satisfied')
  t.same(further, { mode: 'GOVERNANCE', until: d(30) }, 'left as the other machine set it')

  const compliance = { mode: 'COMPLIANCE', until: d(10) }
  const b = await lockServer(t, compliance)
  const storeB = new S3Store({ bucket: 'b', client: client(b.endpoint, { maxAttempts: 1 }) })
  await storeB.extendRetention('content/x', 'v1', 'GOVERNANCE', d(20))
  t.same(b.puts, [`GOVERNANCE ${d(20).toISOString()}`, `COMPLIANCE ${d(20).toISOString()}`], 'sent again in the mode the version is in')
  t.same(compliance, { mode: 'COMPLIANCE', until: d(20) })

  const c = await lockServer(t, { mode: 'GOVERNANCE', until: d(10) }, true)
  const storeC = new S3Store({ bucket: 'b', client: client(c.endpoint, { maxAttempts: 1 }) })
  const err = await rejects(storeC.extendRetention('content/x', 'v1', 'GOVERNANCE', d(20)))
  t.ok(err instanceof StoreFatalError, 'a real refusal stops the run')
  t.equal((err as Error).message, 'PutObjectRetention s3://b/content/x: AccessDenied: Access Denied')
  t.equal(c.puts.length, 1, 'not retried in vain')
})
