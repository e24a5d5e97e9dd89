/**
 * The Store contract (src/store/store.ts), written once and run against
 * both implementations: S3Store on a real moto_server, and LocalStore on a
 * real directory.
 */
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import type { Readable } from 'node:stream'
import {
  CreateBucketCommand, DeleteObjectCommand, ListMultipartUploadsCommand, S3Client,
} from '@aws-sdk/client-s3'
import { LocalStore } from '../../src/store/local-store.js'
import { NotFoundError, StoreError, storeErrorCode } from '../../src/store/errors.js'
import { MIN_PART_SIZE } from '../../src/store/parts.js'
import { S3Store } from '../../src/store/s3-store.js'
import type { LockMode, Store, VersionInfo } from '../../src/store/store.js'
import { startMoto, type Moto } from '../helpers/moto.js'

const DAY = 86_400_000
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

interface StoreOptions { pageSize?: number, concurrency?: number }

/** What the tests need beyond the Store interface, per implementation. */
interface Harness {
  name: string
  fresh(t: Test, opts?: StoreOptions): Promise<Store>
  /** Deletes a version as an administrator would; resolves 'deleted' or the refusal's error code. */
  deleteVersion(store: Store, key: string, versionId: string, bypassGovernance: boolean): Promise<string>
  /** Multipart uploads started and neither completed nor aborted. */
  pendingUploads(store: Store): Promise<number>
  /** Bytes of a putStream body known to be stored so far (parts finished, or bytes on disk). */
  storedSoFar(store: Store, key: string): number
}

let moto: Moto
const partBytes = new WeakMap<Store, number>()

const s3Harness: Harness = {
  name: 'S3Store (moto)',
  async fresh(_t, opts = {}) {
    await moto.reset()
    const client = new S3Client({
      endpoint: moto.endpoint, region: 'us-east-1', forcePathStyle: true,
      credentials: { accessKeyId: 'testing', secretAccessKey: 'testing' },
    })
    await client.send(new CreateBucketCommand({ Bucket: 'locked', ObjectLockEnabledForBucket: true }))
    const store = new S3Store({ bucket: 'locked', client, endpoint: moto.endpoint, partSize: MIN_PART_SIZE, ...opts })
    await store.checkObjectLock() // as openStore does for writing, so request counts below are the operations' own
    partBytes.set(store, 0)
    // Observes finished parts, for the memory bound.
    client.middlewareStack.add((next, context) => async (args) => {
      const out = await next(args)
      if (context.commandName === 'UploadPartCommand') {
        partBytes.set(store, partBytes.get(store)! + (args.request as { body: Buffer }).body.length)
      }
      return out
    }, { step: 'deserialize', name: 'testPartObserver' })
    return store
  },
  async deleteVersion(store, key, versionId, bypass) {
    try {
      await (store as S3Store).client.send(new DeleteObjectCommand({ Bucket: 'locked', Key: key, VersionId: versionId, ...(bypass && { BypassGovernanceRetention: true }) }))
      return 'deleted'
    } catch (err) {
      return (err as Error).name
    }
  },
  async pendingUploads(store) {
    const res = await (store as S3Store).client.send(new ListMultipartUploadsCommand({ Bucket: 'locked' }))
    return res.Uploads?.length ?? 0
  },
  storedSoFar(store) {
    return partBytes.get(store)!
  },
}

const localHarness: Harness = {
  name: 'LocalStore',
  async fresh(t, opts = {}) {
    return LocalStore.open(join(t.testdir(), 'store'), { create: true, partSize: MIN_PART_SIZE, ...opts })
  },
  async deleteVersion(store, key, versionId, bypass) {
    try {
      await (store as LocalStore).deleteVersion(key, versionId, { bypassGovernance: bypass })
      return 'deleted'
    } catch (err) {
      return storeErrorCode(err) ?? String(err)
    }
  },
  async pendingUploads(store) {
    // The local counterpart of a pending upload: a temporary file left anywhere in the store.
    const dir = (store as LocalStore).dir
    const walk = (d: string): number => readdirSync(d, { withFileTypes: true })
      .reduce((n, e) => n + (e.isDirectory() ? walk(join(d, e.name)) : e.name.startsWith('.tmp-') ? 1 : 0), 0)
    return walk(dir)
  },
  storedSoFar(store, key) {
    const dir = join((store as LocalStore).dir, key)
    try {
      return readdirSync(dir).filter((n) => n.startsWith('.tmp-')).reduce((n, f) => n + statSync(join(dir, f)).size, 0)
    } catch {
      return 0
    }
  },
}

function lock(days = 1, mode: LockMode = 'GOVERNANCE') {
  return { lockMode: mode, retainUntil: new Date(Date.now() + days * DAY) }
}

async function readAll(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = []
  for await (const c of body) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

async function collect<T>(pages: AsyncIterable<T[]>): Promise<T[][]> {
  const out: T[][] = []
  for await (const p of pages) out.push(p)
  return out
}

async function* chunksOf(data: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size)
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

t.before(async () => {
  moto = await startMoto()
})
t.teardown(async () => {
  await moto.stop()
})

for (const h of [localHarness, s3Harness]) {
  t.test(h.name, async (t) => {
    t.test('put, head and get round trip with metadata, encoding and lock', async (t) => {
      const store = await h.fresh(t)
      const plain = Buffer.from('hello, world\n'.repeat(100))
      const body = gzipSync(plain)
      const retainUntil = new Date(Date.now() + 3 * DAY)
      const before = store.requests.snapshot()
      const { versionId } = await store.putBuffer('content/abc', body, {
        lockMode: 'GOVERNANCE', retainUntil, metadata: { 'plain-size': String(plain.length) }, contentEncoding: 'gzip',
      })
      t.same(store.requests.since(before), { PutObject: 1 }, 'one PutObject')
      t.type(versionId, 'string')

      const info = await store.head('content/abc')
      t.ok(info)
      t.match(info, { key: 'content/abc', versionId, size: body.length, contentEncoding: 'gzip', lockMode: 'GOVERNANCE', metadata: { 'plain-size': String(plain.length) } })
      t.equal(info!.retainUntil!.toISOString(), retainUntil.toISOString(), 'retain-until as sent')
      t.ok(Math.abs(info!.lastModified.getTime() - Date.now()) < 60_000, 'lastModified is now')

      const { info: got, body: stream } = await store.get('content/abc', versionId)
      t.equal(got.versionId, versionId)
      const raw = await readAll(stream)
      t.ok(raw.equals(body), 'body as stored: still gzip')
      t.ok(gunzipSync(raw).equals(plain))
      t.same(store.requests.since(before), { PutObject: 1, HeadObject: 1, GetObject: 1 })
    })

    t.test('absent keys: head is null, get throws NotFoundError', async (t) => {
      const store = await h.fresh(t)
      t.equal(await store.head('content/missing'), null)
      const err = await rejects(store.get('content/missing'))
      t.ok(err instanceof NotFoundError, 'NotFoundError')
      t.match((err as Error).message, /^GetObject \S*content\/missing: NoSuch\w+: /)
      t.notMatch((err as Error).message, /\n/)
      const { versionId } = await store.putBuffer('content/there', Buffer.from('x'), lock())
      t.ok(await store.head('content/there', versionId))
      t.equal(await store.head('content/missing', versionId), null, 'a version id of another key')
    })

    t.test('two puts of one key are two versions, newest first', async (t) => {
      const store = await h.fresh(t)
      const v1 = (await store.putBuffer('manifests/host/a', Buffer.from('one'), lock())).versionId
      const v2 = (await store.putBuffer('manifests/host/a', Buffer.from('two!'), lock())).versionId
      t.not(v1, v2)
      const pages = await collect(store.listVersions('manifests/'))
      t.equal(pages.length, 1)
      t.match(pages[0], [
        { key: 'manifests/host/a', versionId: v2, size: 4, isLatest: true },
        { key: 'manifests/host/a', versionId: v1, size: 3, isLatest: false },
      ])
      t.equal((await store.head('manifests/host/a'))!.versionId, v2, 'head without version: the latest')
      t.equal((await readAll((await store.get('manifests/host/a', v1)).body)).toString(), 'one', 'old version still readable')
      const latest = await collect(store.listLatest('manifests/'))
      t.match(latest, [[{ key: 'manifests/host/a', size: 4 }]])
      t.equal(latest[0]!.length, 1)
    })

    t.test('listings page and filter by plain prefix', async (t) => {
      const store = await h.fresh(t, { pageSize: 10 })
      const keys: string[] = []
      for (let i = 0; i < 25; i++) keys.push(`content/${String(i).padStart(3, '0')}`)
      for (const k of keys) await store.putBuffer(k, Buffer.from(k), lock())
      await store.putBuffer('content/007', Buffer.from('again'), lock())
      await store.putBuffer('snapshots/h1/x', Buffer.from('s'), lock())
      await store.putBuffer('snapshots/h10/y', Buffer.from('s'), lock())

      const before = store.requests.snapshot()
      const pages = await collect(store.listVersions('content/'))
      t.equal(pages.length, 3, '26 versions in pages of 10')
      t.same(pages.map((p) => p.length), [10, 10, 6])
      t.same(store.requests.since(before), { ListObjectVersions: 3 }, 'one request per page')
      const all: VersionInfo[] = pages.flat()
      t.same([...new Set(all.map((v) => v.key))], keys, 'every key once, in order')
      t.equal(all.filter((v) => v.key === 'content/007').length, 2)
      t.equal(all.filter((v) => v.isLatest).length, 25)

      const latest = await collect(store.listLatest('content/'))
      t.same(latest.map((p) => p.length), [10, 10, 5])
      t.same(latest.flat().map((l) => l.key), keys)

      const hosts = (await collect(store.listVersions('snapshots/h1'))).flat().map((v) => v.key)
      t.same(hosts, ['snapshots/h1/x', 'snapshots/h10/y'], 'a prefix is a string prefix, not a directory')
      t.same((await collect(store.listVersions('snapshots/h1/'))).flat().map((v) => v.key), ['snapshots/h1/x'])

      const before2 = store.requests.snapshot()
      t.same(await collect(store.listVersions('nothing/')), [], 'no pages when nothing matches')
      t.same(store.requests.since(before2), { ListObjectVersions: 1 }, 'but one request')
    })

    t.test('a locked version cannot be deleted; governance bypass can', async (t) => {
      const store = await h.fresh(t)
      const gov = (await store.putBuffer('content/gov', Buffer.from('g'), lock(1, 'GOVERNANCE'))).versionId
      const comp = (await store.putBuffer('content/comp', Buffer.from('c'), lock(1, 'COMPLIANCE'))).versionId
      t.equal(await h.deleteVersion(store, 'content/gov', gov, false), 'AccessDenied', 'governance without bypass')
      t.equal(await h.deleteVersion(store, 'content/comp', comp, false), 'AccessDenied', 'compliance')
      t.equal(await h.deleteVersion(store, 'content/comp', comp, true), 'AccessDenied', 'compliance even with bypass')
      t.ok(await store.head('content/gov', gov), 'still there')
      t.equal(await h.deleteVersion(store, 'content/gov', gov, true), 'deleted', 'governance with bypass')
      t.equal(await store.head('content/gov', gov), null, 'gone')
      t.ok(await store.head('content/comp', comp), 'compliance version kept')
    })

    t.test('retention is extended, never shortened', async (t) => {
      const store = await h.fresh(t)
      const first = lock(1)
      const { versionId } = await store.putBuffer('content/r', Buffer.from('r'), first)
      const later = new Date(first.retainUntil.getTime() + 5 * DAY)
      let before = store.requests.snapshot()
      await store.extendRetention('content/r', versionId, 'GOVERNANCE', later)
      t.same(store.requests.since(before), { PutObjectRetention: 1 })
      t.equal((await store.head('content/r', versionId))!.retainUntil!.toISOString(), later.toISOString(), 'extended')

      before = store.requests.snapshot()
      await store.extendRetention('content/r', versionId, 'GOVERNANCE', later)
      t.same(store.requests.since(before), {}, 'the same date again costs nothing')

      const err = await rejects(store.extendRetention('content/r', versionId, 'GOVERNANCE', first.retainUntil))
      t.ok(err instanceof StoreError)
      t.equal(storeErrorCode(err), 'WouldShortenRetention')
      t.match((err as Error).message, /^PutObjectRetention \S*content\/r: WouldShortenRetention: .*refusing to shorten/)
      t.same(store.requests.since(before), {}, 'refused before sending anything')
      t.equal((await store.head('content/r', versionId))!.retainUntil!.toISOString(), later.toISOString(), 'unchanged')

      const strict = later.getTime() + DAY
      await store.extendRetention('content/r', versionId, 'COMPLIANCE', new Date(strict))
      t.same(await store.getRetention('content/r', versionId), { mode: 'COMPLIANCE', retainUntil: new Date(strict) }, 'GOVERNANCE made COMPLIANCE')
      before = store.requests.snapshot()
      await store.extendRetention('content/r', versionId, 'GOVERNANCE', new Date(strict + DAY))
      t.same(store.requests.since(before), { PutObjectRetention: 1 })
      t.same(await store.getRetention('content/r', versionId), { mode: 'COMPLIANCE', retainUntil: new Date(strict + DAY) }, 'COMPLIANCE is kept: only the date moves')
      const err2 = await rejects(store.extendRetention('content/r', versionId, 'COMPLIANCE', new Date(strict)))
      t.equal(storeErrorCode(err2), 'WouldShortenRetention', 'COMPLIANCE is not shortened either')
    })

    t.test('getRetention reads the lock of a version', async (t) => {
      const store = await h.fresh(t)
      const l = lock(2, 'COMPLIANCE')
      const { versionId } = await store.putBuffer('content/g', Buffer.from('g'), l)
      t.same(await store.getRetention('content/g', versionId), { mode: 'COMPLIANCE', retainUntil: l.retainUntil })
      const err = await rejects(store.getRetention('content/none', versionId))
      t.ok(err instanceof NotFoundError)
    })

    t.test('bad put options are refused before anything is sent', async (t) => {
      const store = await h.fresh(t)
      const before = store.requests.snapshot()
      const cases: [string, object][] = [
        ['upper-case metadata key', { metadata: { Upper: 'x' } }],
        ['non-ASCII metadata value', { metadata: { desc: 'café' } }],
        ['oversized metadata', { metadata: { big: 'x'.repeat(3000) } }],
        ['past retain-until', { retainUntil: new Date(Date.now() - 1000) }],
        ['bad lock mode', { lockMode: 'NONE' }],
      ]
      for (const [name, over] of cases) {
        const err = await rejects(store.putBuffer('content/bad', Buffer.from('x'), { ...lock(), ...over }))
        t.ok(err instanceof StoreError, name)
        t.match((err as Error).message, /^PutObject \S*content\/bad: Invalid(Metadata|Lock): /, name)
      }
      const err = await rejects(store.putBuffer('', Buffer.from('x'), lock()))
      t.equal(storeErrorCode(err), 'InvalidKey')
      t.same(store.requests.since(before), {}, 'no request sent')
    })

    t.test('putStream: a small body is one PutObject', async (t) => {
      const store = await h.fresh(t)
      const data = randomBytes(100_000)
      const before = store.requests.snapshot()
      const res = await store.putStream('snapshots/h/small', chunksOf(data, 4096), { ...lock(), metadata: { description: 'small dump' } })
      t.ok(res)
      t.same(store.requests.since(before), { PutObject: 1 })
      const info = await store.head('snapshots/h/small', res!.versionId)
      t.match(info, { size: data.length, lockMode: 'GOVERNANCE', metadata: { description: 'small dump' } })
      t.ok((await readAll((await store.get('snapshots/h/small')).body)).equals(data))
    })

    t.test('putStream: multipart, locked, memory bounded by part size × concurrency', async (t) => {
      const store = await h.fresh(t, { concurrency: 2 })
      const chunk = 256 * 1024
      const total = 6 * MIN_PART_SIZE + 12345
      const hash = createHash('sha256')
      let pulled = 0
      let maxAhead = 0
      async function* source(): AsyncGenerator<Buffer> {
        for (let sent = 0; sent < total; sent += chunk) {
          const c = randomBytes(Math.min(chunk, total - sent))
          hash.update(c)
          pulled += c.length
          maxAhead = Math.max(maxAhead, pulled - h.storedSoFar(store, 'snapshots/h/big'))
          yield c
        }
      }
      const l = lock(2)
      const before = store.requests.snapshot()
      let completeCalls = 0
      const res = await store.putStream('snapshots/h/big', source(), {
        ...l, metadata: { description: 'big dump' }, contentType: 'application/x-dump',
        beforeComplete: async () => { completeCalls++; return true },
      })
      t.ok(res, 'completed')
      t.equal(completeCalls, 1, 'beforeComplete called once')
      t.equal(pulled, total)
      t.ok(maxAhead <= 2 * MIN_PART_SIZE + chunk, `at most partSize × concurrency + one chunk read ahead (max ${maxAhead})`)

      const sent = store.requests.since(before)
      t.match(sent, { CreateMultipartUpload: 1, UploadPart: 7, CompleteMultipartUpload: 1, HeadObject: 1 })
      t.notOk(sent.PutObject, 'no single PutObject')
      if (store instanceof S3Store) t.equal(sent.PutObjectRetention, 1, 'moto ignored the multipart lock: it was applied afterwards')

      const info = await store.head('snapshots/h/big', res!.versionId)
      t.match(info, { size: total, lockMode: 'GOVERNANCE', contentType: 'application/x-dump', metadata: { description: 'big dump' } })
      t.equal(info!.retainUntil!.toISOString(), l.retainUntil.toISOString(), 'locked until the date asked')
      t.equal(await h.deleteVersion(store, 'snapshots/h/big', res!.versionId, false), 'AccessDenied', 'and the lock holds')
      const back = createHash('sha256').update(await readAll((await store.get('snapshots/h/big')).body)).digest('hex')
      t.equal(back, hash.digest('hex'), 'content intact')
      t.equal(await h.pendingUploads(store), 0)
    })

    t.test('putStream: beforeComplete false leaves nothing behind', async (t) => {
      const store = await h.fresh(t)
      for (const size of [1000, 2 * MIN_PART_SIZE + 1]) {
        const before = store.requests.snapshot()
        const res = await store.putStream('content/refused', chunksOf(randomBytes(size), 65536), { ...lock(), beforeComplete: async () => false })
        t.equal(res, null, `${size} bytes: null`)
        t.equal(await store.head('content/refused'), null, 'no object')
        t.same(await collect(store.listVersions('content/')), [], 'no version')
        t.equal(await h.pendingUploads(store), 0, 'no pending upload')
        const sent = store.requests.since(before)
        if (size > MIN_PART_SIZE) t.match(sent, { CreateMultipartUpload: 1, UploadPart: 3, AbortMultipartUpload: 1 }, 'multipart aborted')
        else t.notOk(sent.PutObject, 'a single-part body is never sent')
        t.notOk(sent.CompleteMultipartUpload)
      }
    })

    t.test('putStream: a failing body aborts the upload and rethrows', async (t) => {
      const store = await h.fresh(t)
      let cleanedUp = false
      async function* failing(): AsyncGenerator<Buffer> {
        try {
          yield randomBytes(MIN_PART_SIZE)
          yield randomBytes(MIN_PART_SIZE)
          throw new Error('snapshotter died')
        } finally {
          cleanedUp = true
        }
      }
      const err = await rejects(store.putStream('snapshots/h/broken', failing(), lock()))
      t.equal((err as Error).message, 'snapshotter died', 'the body\'s own error')
      t.ok(cleanedUp)
      t.equal(await store.head('snapshots/h/broken'), null)
      t.equal(await h.pendingUploads(store), 0, 'nothing pending')
    })

    t.test('putStream: an aborted signal abandons the upload', async (t) => {
      const store = await h.fresh(t)
      const controller = new AbortController()
      let pulled = 0
      async function* endless(): AsyncGenerator<Buffer> {
        for (;;) {
          if (pulled >= 3 * MIN_PART_SIZE) controller.abort(new Error('interrupted by SIGTERM'))
          pulled += 1024 * 1024
          yield randomBytes(1024 * 1024)
        }
      }
      const err = await rejects(store.putStream('snapshots/h/cut', endless(), { ...lock(), signal: controller.signal }))
      t.equal((err as Error).message, 'interrupted by SIGTERM', 'rejects with the signal\'s reason')
      t.ok(pulled < 6 * MIN_PART_SIZE, 'stopped reading soon after')
      t.equal(await store.head('snapshots/h/cut'), null)
      t.equal(await h.pendingUploads(store), 0, 'nothing pending')
    })
  })
}
