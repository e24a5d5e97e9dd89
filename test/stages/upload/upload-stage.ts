/**
 * sysbackup-upload in-process (runStage), against a local directory store
 * and an Object-Lock bucket on this file's own moto_server, with real files
 * hashed by the real hash stage. Request counts come from the stage's
 * trailer (`req.*`), which both stores count the same way.
 */
import t, { type Test } from 'tap'
import { createHash, randomBytes } from 'node:crypto'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import { appendFileSync, closeSync, existsSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync, writeFileSync, writeSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync, gzipSync } from 'node:zlib'
import { runStage } from '../../../src/cli/stage.js'
import type { Rec } from '../../../src/protocol/records.js'
import { makeHashStage } from '../../../src/stages/hash/hash-stage.js'
import { wallClockNs } from '../../../src/stages/hash/read-content.js'
import { contentCacheFile } from '../../../src/stages/upload/content-cache.js'
import { makeUploadStage, uploadStage, type UploadStageHooks } from '../../../src/stages/upload/upload-stage.js'
import type { Store } from '../../../src/store/store.js'
import { fileRecord, pickStream } from '../../helpers/entries.js'
import { textOf } from '../../helpers/files.js'
import { testIO, type TestIO } from '../../helpers/io.js'
import { startMoto, type Moto } from '../../helpers/moto.js'
import { localBackend, s3Backend, versionsOf, type Backend } from '../../helpers/store-backends.js'

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
const DAY = 86_400_000
const MiB = 1024 * 1024
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex')
/** Whole seconds, so ISO strings compare exactly. */
const T0 = new Date(Math.floor(Date.now() / 1000) * 1000)
const at = (days: number) => new Date(T0.getTime() + days * DAY)
const iso = (days: number) => at(days).toISOString()
/** A hash stage whose clock is ahead, so files just written count as settled. */
const hashStage = makeHashStage({ nowNs: () => wallClockNs() + 10_000_000_000n })

let moto: Moto
t.before(async () => {
  moto = await startMoto()
  Object.assign(process.env, moto.env)
})
t.teardown(async () => {
  await moto.stop()
})

let buckets = 0
/** A fresh store of `kind` for test `t`, with `dir` its scratch directory. */
async function backendFor(kind: 'local' | 's3', dir: string): Promise<Backend> {
  if (kind === 'local') return localBackend(dir)
  await moto.reset()
  return s3Backend(dir, moto, `upload-test-${++buckets}`)
}

let hashRuns = 0
/** The real hash stage's output for the regular files `paths` (and `extra` records), as upload reads it. */
async function hashed(dir: string, paths: string[], extra: Rec[] = []): Promise<Rec[]> {
  const io = testIO(pickStream([...paths.map((p) => fileRecord(p)), ...extra]), { S3_SYSBACKUP_CONFIG: join(dir, 'no-config') })
  mkdirSync(join(dir, 'no-config'), { recursive: true })
  writeFileSync(join(dir, 'no-config', 'conf'), '')
  const status = await runStage(hashStage, ['--no-cache', '--state-dir', join(dir, `hash-state-${++hashRuns}`)], io)
  if (status !== 0) throw new Error(`hash exited ${status}: ${io.err()}`)
  return io.records()
}

interface Result {
  status: number
  io: TestIO
  out: Rec[]
  files: Rec[]
  trailer: Rec
  counts: Record<string, number>
  /** Requests by S3 API name, from the trailer's `req.*` counters. */
  req: Record<string, number>
}

async function upload(b: Backend, args: string[], input: Rec[] | string, hooks: UploadStageHooks = {}): Promise<Result> {
  const io = testIO(input, { S3_SYSBACKUP_CONFIG: b.configDir })
  const status = await runStage(makeUploadStage(hooks), [...b.storeArgs, ...args], io)
  const out = io.records()
  const trailer = out.at(-1)!
  const counts = trailer.counts as Record<string, number>
  const req = Object.fromEntries(Object.entries(counts).filter(([k]) => k.startsWith('req.')).map(([k, v]) => [k.slice(4), v]))
  return { status, io, out, files: out.filter((r) => r.type === 'file'), trailer, counts, req }
}

/**
 * Requests about content/: all but the bucket's Object Lock check, the
 * manifest reads, and S3Store's one HeadBucket after a HEAD's 404 (which
 * tells a missing key from a missing bucket).
 */
function contentRequests(req: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(req).filter(([api]) => !['GetObjectLockConfiguration', 'ListObjectsV2', 'GetObject', 'HeadBucket'].includes(api)))
}

/** Stores a manifest as sysbackup-manifest(1) does: gzip NDJSON of records, at manifests/HOST/STAMP[.incomplete].ndjson.gz. */
async function putManifest(store: Store, host: string, stamp: string, files: Rec[], incomplete = false): Promise<void> {
  const records = [
    { type: 'header', producer: 'sysbackup-manifest', protocol: 1, version: '0.1.0', startedAt: T0.toISOString(), host },
    ...files,
    { type: 'trailer', producer: 'sysbackup-manifest', ok: !incomplete, counts: {}, finishedAt: T0.toISOString() },
  ]
  const body = gzipSync(records.map((r) => JSON.stringify(r) + '\n').join(''))
  await store.putBuffer(`manifests/${host}/${stamp}${incomplete ? '.incomplete' : ''}.ndjson.gz`, body, { lockMode: 'GOVERNANCE', retainUntil: at(14) })
}

async function bodyOf(store: Store, key: string, versionId: string): Promise<Buffer> {
  const { body } = await store.get(key, versionId)
  const chunks: Buffer[] = []
  for await (const c of body) chunks.push(c as Buffer)
  return Buffer.concat(chunks)
}

for (const kind of ['local', 's3'] as const) {
  t.test(`${kind} store`, async (t) => {
    /** Scratch dir, store, tree and state of one test. */
    async function setup(t: Test, files: Record<string, string | Buffer> = {}) {
      const dir = t.testdir()
      const tree = join(dir, 'tree')
      mkdirSync(tree)
      for (const [name, content] of Object.entries(files)) writeFileSync(join(tree, name), content)
      const b = await backendFor(kind, dir)
      return { dir, tree, b, state: join(dir, 'state'), path: (name: string) => join(tree, name) }
    }

    t.test('first run: each distinct content stored once, locked, with its metadata; gzip content decodes to its key', async (t) => {
      const text = textOf(20_000)
      const random = randomBytes(30_000)
      const s = await setup(t, { 'a.conf': text, 'b.bin': random, 'copy.conf': text, empty: '' })
      const input = await hashed(s.dir, ['a.conf', 'b.bin', 'copy.conf', 'empty'].map(s.path), [{ type: 'dir', path: s.tree, mode: '0755', uid: 0, gid: 0, mtimeNs: '0', ctimeNs: '0', storageId: '1:1', nlink: 2 }, { type: 'x-later', n: 1 }])
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], input)
      t.equal(r.status, 0, r.io.err())
      t.equal(r.io.err(), '')
      t.same(r.out.map((x) => x.type), ['header', 'header', 'header', 'file', 'file', 'file', 'file', 'dir', 'x-later', 'trailer', 'trailer', 'trailer'], 'everything passes, in order')
      t.match(r.out[0], { producer: 'sysbackup-upload', runTime: iso(0), retainUntil: iso(14), store: /^(file|s3):/ })
      const storeUntil = iso(21)
      t.match(r.files, [
        { key: `content/${sha256(text)}`, upload: 'stored', retainUntil: storeUntil, versionId: /./ },
        { key: `content/${sha256(random)}`, upload: 'stored', retainUntil: storeUntil },
        { key: `content/${sha256(text)}`, upload: 'reused', retainUntil: storeUntil, versionId: r.files[0]!.versionId },
        { key: `content/${sha256('')}`, upload: 'stored' },
      ])
      t.match(r.counts, { files: 4, stored: 3, reused: 1, extended: 0, bytesRead: 50_000, heads: 3, swept: 0 })
      // Three unknown hashes: three HEADs cost less than a listing page; one LIST for the (absent) manifest.
      t.same(contentRequests(r.req), { HeadObject: 3, PutObject: 3 })
      t.equal(r.req.ListObjectsV2, 1)

      const store = await s.b.inspect()
      const [textRec, randomRec] = r.files
      const info = (await store.head(textRec!.key as string, textRec!.versionId as string))!
      t.match(info, { lockMode: 'GOVERNANCE', contentEncoding: 'gzip', metadata: { sha256: sha256(text), size: '20000', encoding: 'gzip' } })
      t.equal(info.retainUntil!.toISOString(), storeUntil)
      t.ok(info.size < 10_000, 'text stored compressed')
      t.equal(sha256(gunzipSync(await bodyOf(store, textRec!.key as string, textRec!.versionId as string))), sha256(text), 'gunzip gives bytes whose sha256 is the key')
      const rinfo = (await store.head(randomRec!.key as string))!
      t.match(rinfo, { lockMode: 'GOVERNANCE', metadata: { encoding: 'identity', size: '30000' } })
      t.equal(rinfo.contentEncoding, undefined)
      t.equal(sha256(await bodyOf(store, randomRec!.key as string, randomRec!.versionId as string)), sha256(random))
      t.equal(await s.b.deleteVersion(textRec!.key as string, textRec!.versionId as string), 'AccessDenied', 'locked')
      t.same([...(await versionsOf(store, 'content/')).values()].map((v) => v.length), [1, 1, 1], 'one version per content')
    })

    t.test('the gzip level: 1 by default, --gzip-level or [content] gzip_level; 0 stores content as it is', async (t) => {
      // One distinct text per run, so each is stored by the run that names its level.
      const texts = ['default', 'nine', 'zero', 'configured'].map((name) => Buffer.from(`# ${name}\n${textOf(40_000)}`))
      const s = await setup(t, Object.fromEntries(texts.map((text, i) => [`f${i}.conf`, text])))
      const input = await hashed(s.dir, texts.map((_, i) => s.path(`f${i}.conf`)))
      t.ok(input.filter((r) => r.type === 'file').every((r) => r.gzip === true), 'the hash stage judges each text worth gzipping')
      const only = (i: number) => input.filter((r) => r.type !== 'file' || r.path === s.path(`f${i}.conf`))
      const store = await s.b.inspect()
      async function stored(args: string[], i: number): Promise<{ body: Buffer, encoding: unknown, contentEncoding: unknown }> {
        const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0), ...args], only(i))
        t.equal(r.status, 0, r.io.err())
        t.match(r.files, [{ upload: 'stored', key: `content/${sha256(texts[i]!)}` }])
        const key = r.files[0]!.key as string
        const versionId = r.files[0]!.versionId as string
        const info = (await store.head(key, versionId))!
        return { body: await bodyOf(store, key, versionId), encoding: info.metadata.encoding, contentEncoding: info.contentEncoding }
      }
      // zlib's output is fixed by its input and level: the stored bytes show the level used.
      t.same(await stored([], 0), { body: gzipSync(texts[0]!, { level: 1 }), encoding: 'gzip', contentEncoding: 'gzip' }, 'level 1 by default')
      t.same(await stored(['--gzip-level', '9'], 1), { body: gzipSync(texts[1]!, { level: 9 }), encoding: 'gzip', contentEncoding: 'gzip' }, '--gzip-level 9')
      t.not(gzipSync(texts[1]!, { level: 9 }).length, gzipSync(texts[1]!, { level: 1 }).length, 'the two levels differ on this text')
      const zero = await stored(['--gzip-level', '0'], 2)
      t.same(zero, { body: texts[2], encoding: 'identity', contentEncoding: undefined }, '--gzip-level 0: stored as it is')
      appendFileSync(join(s.b.configDir, 'conf'), '[content]\ngzip_level = 9\n')
      t.same(await stored([], 3), { body: gzipSync(texts[3]!, { level: 9 }), encoding: 'gzip', contentEncoding: 'gzip' }, '[content] gzip_level 9')

      for (const bad of ['10', '-1', '1.5']) {
        const io = testIO(only(0), { S3_SYSBACKUP_CONFIG: s.b.configDir })
        const status = await runStage(uploadStage, [...s.b.storeArgs, '--state-dir', s.state, '--run-time', iso(0), `--gzip-level=${bad}`], io)
        t.equal(status, 2, `--gzip-level ${bad}: exit 2`)
        t.equal(io.err(), `sysbackup-upload: option --gzip-level: ${bad} is not a whole number from 0 to 9\n`)
        t.same(io.records(), [], 'nothing read, nothing written')
      }
    })

    t.test('unchanged second run with the cache: no request at all', async (t) => {
      const s = await setup(t, { a: textOf(5000), b: 'bee', c: randomBytes(2000) })
      const input = await hashed(s.dir, ['a', 'b', 'c'].map(s.path))
      const first = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], input)
      t.equal(first.counts.stored, 3)
      t.ok(existsSync(contentCacheFile(s.state, (await s.b.inspect()).cacheId)), 'cache written')
      const second = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(1)], input)
      t.equal(second.status, 0)
      t.same(second.req, {}, 'no request of any kind')
      t.match(second.counts, { files: 3, reused: 3, stored: 0, bytesRead: 0, heads: 0, swept: 0, cacheLoaded: 3, cacheSaved: 3 })
      t.same(second.files.map((f) => [f.key, f.versionId, f.retainUntil]), first.files.map((f) => [f.key, f.versionId, f.retainUntil]))
    })

    t.test('state deleted: knowledge from this host\'s newest manifest, one LIST and one GET', async (t) => {
      const s = await setup(t, { a: textOf(5000), b: 'bee', c: randomBytes(2000) })
      const input = await hashed(s.dir, ['a', 'b', 'c'].map(s.path))
      const first = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0), '--host', 'web1'], input)
      const store = await s.b.inspect()
      // An older complete manifest knows nothing; the newest (incomplete) one knows everything.
      await putManifest(store, 'web1', '20200101T000000Z', [])
      await putManifest(store, 'web1', '20990101T000000Z', first.files, true)
      await putManifest(store, 'web2', '20990101T000000Z', [], false)
      rmSync(s.state, { recursive: true })
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(1), '--host', 'web1'], input)
      t.equal(r.status, 0, r.io.err())
      t.same(r.req, { ListObjectsV2: 1, GetObject: 1 }, 'no content request')
      t.match(r.counts, { manifestEntries: 3, reused: 3, heads: 0 })
      t.same(r.files.map((f) => f.versionId), first.files.map((f) => f.versionId))
      const third = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(2), '--host', 'web1'], input)
      t.same(third.req, {}, 'and the cache is warm again')
    })

    t.test('no state, no manifest: one sweep of ceil(versions/page) pages, HEADs only for content found', async (t) => {
      const old = ['o1', 'o2', 'o3', 'o4', 'o5']
      const fresh = Array.from({ length: 80 }, (_, i) => `n${i}`)
      const s = await setup(t, Object.fromEntries([...old, ...fresh].map((n) => [n, `content of ${n}\n`])))
      const hooks = { pageSize: 2 }
      await upload(s.b, ['--state-dir', join(s.dir, 'other-state'), '--run-time', iso(0)], await hashed(s.dir, old.map(s.path)), hooks)
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(1)], await hashed(s.dir, [...old, ...fresh].map(s.path)), hooks)
      t.equal(r.status, 0, r.io.err())
      t.equal(r.req.ListObjectVersions, 3, '5 versions, 2 a page: 3 pages')
      t.match(r.counts, { swept: 3, heads: 5, stored: 80, reused: 5 })
      t.same(contentRequests(r.req), { ListObjectVersions: 3, HeadObject: 5, PutObject: 80 })

      // The sweep found content this state had not known: another writer, so new content is still asked about.
      const more = ['m1', 'm2', 'm3']
      for (const n of more) writeFileSync(s.path(n), `more ${n}`)
      const next = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(2)], await hashed(s.dir, [...old, ...fresh, ...more].map(s.path)), hooks)
      t.match(contentRequests(next.req), { HeadObject: 3, PutObject: 3 })
      t.match(next.counts, { stored: 3, reused: 85, heads: 3, swept: 0 })
    })

    t.test('first run on an empty store: one listing instead of a HEAD each; then new content is stored without asking, for a week', async (t) => {
      const names = Array.from({ length: 20 }, (_, i) => `f${i}`)
      const s = await setup(t, Object.fromEntries(names.map((n) => [n, `file ${n}\n`])))
      const first = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], await hashed(s.dir, names.map(s.path)))
      t.equal(first.status, 0, first.io.err())
      t.same(contentRequests(first.req), { ListObjectVersions: 1, PutObject: 20 }, 'the 13th unknown hash made a listing cheaper than HEADs')
      t.match(first.counts, { swept: 1, heads: 0, stored: 20 })

      writeFileSync(s.path('new1'), 'new one')
      writeFileSync(s.path('new2'), 'new two')
      const all = [...names, 'new1', 'new2'].map(s.path)
      const next = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(1)], await hashed(s.dir, all))
      t.same(contentRequests(next.req), { PutObject: 2 }, 'the complete index says they are absent: no HEAD, no listing')

      writeFileSync(s.path('new3'), 'new three')
      const weekLater = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(8)], await hashed(s.dir, [...all, s.path('new3')]))
      t.match(contentRequests(weekLater.req), { HeadObject: 1, PutObject: 1 }, 'after a week the store is asked again (another host may have joined)')
      t.match(weekLater.counts, { heads: 1, stored: 1, extended: 20, reused: 2 })
    })

    t.test('two hosts sharing a bucket store shared content once', async (t) => {
      const shared = textOf(8000)
      const s = await setup(t, { 'a-shared': shared, 'a-own': 'only on a', 'b-shared': shared, 'b-own': 'only on b' })
      const a = await upload(s.b, ['--state-dir', join(s.dir, 'state-a'), '--host', 'a', '--run-time', iso(0)], await hashed(s.dir, [s.path('a-shared'), s.path('a-own')]))
      const b = await upload(s.b, ['--state-dir', join(s.dir, 'state-b'), '--host', 'b', '--run-time', iso(0)], await hashed(s.dir, [s.path('b-shared'), s.path('b-own')]))
      t.match(a.files.map((f) => f.upload), ['stored', 'stored'])
      t.match(b.files.map((f) => f.upload), ['reused', 'stored'], 'b reuses what a stored')
      t.equal(b.files[0]!.versionId, a.files[0]!.versionId)
      const versions = await versionsOf(await s.b.inspect(), 'content/')
      t.same(versions.get(`content/${sha256(shared)}`)?.length, 1, 'one version of the shared content')
      t.equal(versions.size, 3)
    })

    t.test('changed content gets a new key; the old version stays, still locked', async (t) => {
      const s = await setup(t, { f: 'version one\n' })
      const first = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], await hashed(s.dir, [s.path('f')]))
      writeFileSync(s.path('f'), 'version two\n')
      const second = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(1)], await hashed(s.dir, [s.path('f')]))
      t.match(second.files[0], { key: `content/${sha256('version two\n')}`, upload: 'stored' })
      const store = await s.b.inspect()
      const old = (await store.head(first.files[0]!.key as string, first.files[0]!.versionId as string))!
      t.equal(old.retainUntil!.toISOString(), iso(21), 'old version keeps its retention')
      t.equal(await s.b.deleteVersion(first.files[0]!.key as string, first.files[0]!.versionId as string), 'AccessDenied')
    })

    t.test('retention is extended at most once per slack period (runs at T .. T+8d)', async (t) => {
      const s = await setup(t, { f: textOf(3000), g: 'g' })
      const input = await hashed(s.dir, [s.path('f'), s.path('g')])
      const extensions: number[] = []
      let last: Result | undefined
      for (let day = 0; day <= 8; day++) {
        last = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(day)], input)
        t.equal(last.status, 0, `day ${day}: ${last.io.err()}`)
        extensions.push(last.req.PutObjectRetention ?? 0)
      }
      t.same(extensions, [0, 0, 0, 0, 0, 0, 0, 0, 2], 'stored at T until T+21d; first due at T+8d (R = T+22d), for both contents')
      t.match(last!.files.map((f) => [f.upload, f.retainUntil]), [['extended', iso(29)], ['extended', iso(29)]])
      t.same(contentRequests(last!.req), { PutObjectRetention: 2 }, 'the cache answered: no HEAD first')
      const info = (await (await s.b.inspect()).head(last!.files[0]!.key as string))!
      t.equal(info.retainUntil!.toISOString(), iso(29))
      const next = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(9)], input)
      t.same(next.req, {}, 'and not again the next day')
    })

    t.test('many records with one content, later ones after the first is done: stored once, extended once, reused by the rest', async (t) => {
      const names = Array.from({ length: 150 }, (_, i) => `copy-${i}`)
      const s = await setup(t, Object.fromEntries(names.map((n) => [n, 'the same bytes'])))
      const input = await hashed(s.dir, names.map(s.path))
      const first = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], input)
      t.match(first.counts, { files: 150, stored: 1, reused: 149, extended: 0 })
      t.same(contentRequests(first.req), { HeadObject: 1, PutObject: 1 })
      const due = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(8)], input)
      t.match(due.counts, { files: 150, stored: 0, reused: 149, extended: 1 })
      t.same(contentRequests(due.req), { PutObjectRetention: 1 })
      t.same(new Set(due.files.map((f) => `${f.versionId} ${f.retainUntil}`)), new Set([`${first.files[0]!.versionId} ${iso(29)}`]), 'one version, one retention for all')
      const next = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(9)], input)
      t.match(next.counts, { files: 150, reused: 150 })
      t.same(next.req, {})
    })

    t.test('never shortens: content retained beyond R + slack is reused without a request', async (t) => {
      const s = await setup(t, { f: 'long-lived' })
      const input = await hashed(s.dir, [s.path('f')])
      const long = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0), '--retain-until', iso(60)], input)
      t.equal(long.files[0]!.retainUntil, iso(67))
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(1)], input)
      t.same(r.req, {})
      t.match(r.files[0], { upload: 'reused', retainUntil: iso(67) })
      rmSync(s.state, { recursive: true })
      const asked = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(2)], input)
      t.same(contentRequests(asked.req), { HeadObject: 1 }, 'the HEAD shows the longer date: no PutObjectRetention')
      t.match(asked.files[0], { upload: 'reused', retainUntil: iso(67) })
      t.equal((await (await s.b.inspect()).head(r.files[0]!.key as string))!.retainUntil!.toISOString(), iso(67))
    })

    t.test('multipart upload end to end: streamed in parts, locked, decodes to its key', async (t) => {
      const big = randomBytes(11 * MiB + 12345)
      const bigText = Buffer.from(textOf(12 * MiB))
      const s = await setup(t, { big, 'big.log': bigText })
      const hooks = { partSize: 5 * MiB, smallFileMax: 1 * MiB }
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], await hashed(s.dir, [s.path('big'), s.path('big.log')]), hooks)
      t.equal(r.status, 0, r.io.err())
      t.match(r.files, [{ upload: 'stored', key: `content/${sha256(big)}` }, { upload: 'stored', key: `content/${sha256(bigText)}` }])
      t.equal(r.req.CreateMultipartUpload, 1, 'the random file goes in parts; the text gzips into one part')
      t.equal(r.req.UploadPart, 3)
      t.equal(r.req.CompleteMultipartUpload, 1)
      t.equal(r.counts.bytesRead, big.length + bigText.length)
      const store = await s.b.inspect()
      const info = (await store.head(r.files[0]!.key as string, r.files[0]!.versionId as string))!
      t.equal(info.lockMode, 'GOVERNANCE')
      t.equal(info.retainUntil!.toISOString(), iso(21))
      t.match(info.metadata, { sha256: sha256(big), size: String(big.length), encoding: 'identity' })
      t.equal(sha256(await bodyOf(store, r.files[0]!.key as string, r.files[0]!.versionId as string)), sha256(big))
      t.equal(sha256(gunzipSync(await bodyOf(store, r.files[1]!.key as string, r.files[1]!.versionId as string))), sha256(bigText))
      t.equal(await s.b.deleteVersion(r.files[0]!.key as string, r.files[0]!.versionId as string), 'AccessDenied')
    })

    t.test('a file changed between hash and upload is stored under its true hash, with a warning', async (t) => {
      const s = await setup(t, { f: 'as hashed\n', g: 'unchanged' })
      const input = await hashed(s.dir, [s.path('f'), s.path('g')])
      writeFileSync(s.path('f'), 'as uploaded, longer\n')
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], input)
      t.equal(r.status, 0)
      const i = r.out.findIndex((x) => x.type === 'warning')
      t.match(r.out[i], { type: 'warning', stage: 'sysbackup-upload', path: s.path('f'), message: `changed since it was hashed; stored under its new content ${sha256('as uploaded, longer\n')}` })
      t.match(r.out[i + 1], { type: 'file', path: s.path('f'), sha256: sha256('as uploaded, longer\n'), readSize: 20, key: `content/${sha256('as uploaded, longer\n')}`, upload: 'stored' })
      t.match(r.counts, { changed: 1, warnings: 1, stored: 2 })
      t.equal(await (await s.b.inspect()).head(`content/${sha256('as hashed\n')}`), null, 'nothing under the old hash')
    })

    t.test('a file changed into content already stored: reused, with a warning', async (t) => {
      const s = await setup(t, { f: 'before\n', other: 'after\n' })
      const stored = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], await hashed(s.dir, [s.path('other')]))
      const input = await hashed(s.dir, [s.path('f')])
      writeFileSync(s.path('f'), 'after\n')
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], input)
      t.equal(r.status, 0, r.io.err())
      t.match(r.out.find((x) => x.type === 'warning'), { path: s.path('f'), message: `changed since it was hashed; its new content ${sha256('after\n')} is stored already` })
      t.match(r.files, [{ path: s.path('f'), upload: 'reused', sha256: sha256('after\n'), readSize: 6, versionId: stored.files[0]!.versionId }])
      t.notOk(r.req.PutObject, 'nothing uploaded')
    })

    t.test('a large file changing while it streams: the upload is abandoned and redone under the true hash', async (t) => {
      const original = randomBytes(11 * MiB)
      const s = await setup(t, { big: original })
      const input = await hashed(s.dir, [s.path('big')])
      let changes = 0
      const hooks: UploadStageHooks = {
        partSize: 5 * MiB,
        smallFileMax: 1 * MiB,
        afterChunk: (path, bytesRead) => {
          // Past the first part, on the first read only: overwrite a region not read yet.
          if (changes === 0 && bytesRead >= 6 * MiB) {
            changes++
            const fd = openSync(path as string, 'r+')
            writeSync(fd, Buffer.alloc(100, 9), 0, 100, 10 * MiB)
            closeSync(fd)
          }
        },
      }
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], input, hooks)
      const final = readFileSync(s.path('big'))
      t.equal(r.status, 0, r.io.err())
      t.match(r.out.find((x) => x.type === 'warning'), { message: /^changed since it was hashed; stored under its new content / })
      t.match(r.files[0], { sha256: sha256(final), key: `content/${sha256(final)}`, upload: 'stored' })
      t.equal(r.req.AbortMultipartUpload, 1, 'the first upload was abandoned')
      t.equal(r.req.CompleteMultipartUpload, 1)
      t.equal(r.counts.bytesRead, 2 * original.length, 'read twice')
      const store = await s.b.inspect()
      t.equal(await store.head(`content/${sha256(original)}`), null, 'nothing stored under the hash it no longer has')
      t.equal(sha256(await bodyOf(store, r.files[0]!.key as string, r.files[0]!.versionId as string)), sha256(final))
    })

    t.test('a large file that keeps changing: an error after 3 reads, nothing stored', async (t) => {
      const s = await setup(t, { big: randomBytes(6 * MiB), ok: 'fine' })
      const input = await hashed(s.dir, [s.path('big'), s.path('ok')])
      let n = 0
      const hooks: UploadStageHooks = {
        partSize: 5 * MiB,
        smallFileMax: 1 * MiB,
        afterChunk: (path, bytesRead) => {
          if (bytesRead === MiB) appendFileSync(path as string, `change ${++n}`)
        },
      }
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], input, hooks)
      t.equal(r.status, 1, 'incomplete')
      t.match(r.out.filter((x) => x.type === 'error'), [{ path: s.path('big'), message: 'changed during each of 3 reads for upload; not backed up' }])
      t.match(r.files.map((f) => f.path), [s.path('ok')], 'the stream goes on')
      t.equal(r.req.CompleteMultipartUpload ?? 0, 0)
      t.equal(r.req.AbortMultipartUpload, 3)
      t.equal((await versionsOf(await s.b.inspect(), 'content/')).size, 1)
    })

    t.test('a small file that grew past the in-memory limit after hashing is streamed, under its new hash', async (t) => {
      const s = await setup(t, { f: randomBytes(500_000) })
      const input = await hashed(s.dir, [s.path('f')])
      appendFileSync(s.path('f'), randomBytes(MiB))
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], input, { smallFileMax: MiB })
      const now = readFileSync(s.path('f'))
      t.equal(r.status, 0, r.io.err())
      t.match(r.files[0], { sha256: sha256(now), readSize: now.length, upload: 'stored' })
      t.match(r.counts, { changed: 1, bytesRead: 2 * now.length }, 'read twice: once under the old hash (abandoned), once under the new')
      t.equal(sha256(await bodyOf(await s.b.inspect(), r.files[0]!.key as string, r.files[0]!.versionId as string)), sha256(now))
    })

    t.test('a file that vanished or became a directory after hashing', async (t) => {
      const s = await setup(t, { gone: 'g', dir: 'd', kept: 'k' })
      const input = await hashed(s.dir, ['gone', 'dir', 'kept'].map(s.path))
      rmSync(s.path('gone'))
      rmSync(s.path('dir'))
      mkdirSync(s.path('dir'))
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], input)
      t.equal(r.status, 1)
      t.same(r.out.slice(3, -3).map((x) => `${x.type}:${String(x.path)}`), [`warning:${s.path('gone')}`, `error:${s.path('dir')}`, `file:${s.path('kept')}`])
      t.match(r.out[3], { message: 'vanished since it was hashed; not backed up', code: 'ENOENT' })
      t.match(r.out[4], { message: 'is no longer a regular file (it is now a directory); not backed up' })
    })

    t.test('a damaged, truncated or other store\'s cache: a warning, a correct backup, more requests at worst', async (t) => {
      const s = await setup(t, { a: 'a', b: 'b' })
      const input = await hashed(s.dir, [s.path('a'), s.path('b')])
      const first = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], input)
      const file = contentCacheFile(s.state, (await s.b.inspect()).cacheId)
      const good = readFileSync(file, 'latin1')
      const otherStore = good.replace(/^store .*$/m, 'store "file:/somewhere/else"')
      for (const [name, damaged, reason] of [
        ['flipped digit', good.replace(first.files[0]!.versionId as string, 'x' + (first.files[0]!.versionId as string).slice(1)), /is corrupted/],
        ['truncated', good.slice(0, good.length - 20), /is truncated/],
        ['another store', otherStore, /is corrupted|belongs to another store/],
        ['not a cache', 'hello\n', /is not a content versions cache/],
      ] as const) {
        writeFileSync(file, damaged)
        const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(1)], input)
        t.equal(r.status, 0, name)
        t.match(r.out[1], { type: 'warning', path: file, message: reason }, name)
        t.same(r.files.map((f) => [f.key, f.versionId]), first.files.map((f) => [f.key, f.versionId]), `${name}: same versions`)
        t.match(r.counts, { reused: 2, stored: 0, heads: 2 }, `${name}: asked the store instead`)
      }
      // A cache written for another store id is never used for this one, even when intact.
      const foreignName = contentCacheFile(s.state, 'file:/another/store')
      t.not(foreignName, file)
    })

    t.test('a state directory that cannot be written: one warning, a correct backup', async (t) => {
      const s = await setup(t, { f: 'content', blocker: 'a file' })
      const input = await hashed(s.dir, [s.path('f')])
      const r = await upload(s.b, ['--state-dir', join(s.path('blocker'), 'state'), '--run-time', iso(0)], input)
      t.equal(r.status, 0)
      t.match(r.files[0], { upload: 'stored' })
      const warnings = r.out.filter((x) => x.type === 'warning')
      t.equal(warnings.length, 1)
      t.match(warnings[0], { message: /^content versions cache not saved: E[A-Z]+ \(.*\); the next run asks the store again$/ })
    })

    t.test('--dry-run writes nothing and says what it would do', async (t) => {
      const s = await setup(t, { old: 'old', fresh: 'fresh' })
      await upload(s.b, ['--state-dir', s.state, '--run-time', iso(0)], await hashed(s.dir, [s.path('old')]))
      const input = await hashed(s.dir, [s.path('old'), s.path('fresh')])
      const before = readdirSync(s.state)
      const r = await upload(s.b, ['--state-dir', s.state, '--run-time', iso(8), '--dry-run'], input)
      t.equal(r.status, 0, r.io.err())
      t.match(r.files, [{ upload: 'would-extend', retainUntil: iso(21) }, { upload: 'would-store', key: `content/${sha256('fresh')}` }])
      t.notOk('versionId' in r.files[1]!)
      t.match(r.counts, { wouldExtend: 1, wouldStore: 1, stored: 0, extended: 0 })
      t.notOk(r.req.PutObject || r.req.PutObjectRetention, 'no write')
      t.same(readdirSync(s.state), before)
      t.equal(await (await s.b.inspect()).head(`content/${sha256('fresh')}`), null)
    })

    t.test('a file record without sha256 stops the stage naming its line', async (t) => {
      const s = await setup(t, { f: 'x' })
      const r = await upload(s.b, ['--state-dir', s.state], pickStream([{ type: 'x' }, fileRecord(s.path('f'))]))
      t.equal(r.status, 3)
      t.equal(r.io.err(), 'sysbackup-upload: stdin:3: file record has no "sha256" (run it through sysbackup-hash first)\n')
      t.match(r.trailer, { ok: false })
    })
  })
}

t.test('a missing bucket: exit 3 with one line, before anything is uploaded', async (t) => {
  await moto.reset()
  const dir = t.testdir({ f: 'x', config: { conf: `[s3]\nbucket = no-such-bucket\nendpoint = ${moto.endpoint}\n` } })
  const input = await hashed(dir, [join(dir, 'f')])
  const io = testIO(input, { S3_SYSBACKUP_CONFIG: join(dir, 'config') })
  const status = await runStage(uploadStage, ['--state-dir', join(dir, 'state')], io)
  t.equal(status, 3)
  t.match(io.err(), /^sysbackup-upload: ListObjectsV2 s3:\/\/no-such-bucket\/manifests\/[^ ]+\/: NoSuchBucket: [^\n]*\n$/)
  t.match(io.records().at(-1), { type: 'trailer', ok: false, counts: { stored: 0 } })
})

t.test('usage errors: exit 2, nothing written', async (t) => {
  const dir = t.testdir({ config: { conf: '' } })
  for (const [args, message] of [
    [['--jobs', '0'], /^option --jobs: 0 is not a whole number from 1 to 256$/],
    [['--run-time', 'yesterday'], /^--run-time: "yesterday" is not an ISO-8601 time with a zone \(e\.g\. 2026-11-26T08:00:00Z or 20261126T080000Z\)$/],
    [['--run-time', '2026-11-26T08:00:00'], /is not an ISO-8601 time with a zone/],
    [['--retain-until', '2000-01-01T00:00:00Z'], /^--retain-until: 2000-01-01T00:00:00.000Z is not after the run time .* and now$/],
    [['--host', 'a/b'], /^--host: "a\/b" cannot name a host/],
    [['extra'], /^unexpected argument "extra"/],
  ] as const) {
    const io = testIO(pickStream([]), { S3_SYSBACKUP_CONFIG: join(dir, 'config') })
    t.equal(await runStage(uploadStage, ['--store', join(dir, 'store'), ...args], io), 2, args.join(' '))
    t.equal(io.out(), '')
    t.match(io.err().trimEnd().replace(/^sysbackup-upload: /, ''), message)
  }
})

t.test('--help lists every option', async (t) => {
  const io = testIO('')
  t.equal(await runStage(uploadStage, ['--help'], io), 0)
  for (const option of uploadStage.options) t.match(io.out(), `--${option.name}`)
  t.match(io.out(), /See sysbackup-upload\(1\)\.\n$/)
})

const ACCESS_DENIED = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>'

/**
 * An S3 endpoint in front of this file's moto that refuses (403
 * AccessDenied) the requests `denied` picks and passes the rest on.
 */
async function guardedS3(t: Test, denied: (method: string, url: URL) => boolean, missingHeadForbidden = false): Promise<{ endpoint: string, requests: string[] }> {
  const requests: string[] = []
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url!, 'http://s3')
    requests.push(`${req.method} ${url.pathname}${url.search}`)
    if (denied(req.method!, url)) {
      req.resume()
      res.writeHead(403, { 'content-type': 'application/xml' })
      res.end(req.method === 'HEAD' ? undefined : ACCESS_DENIED)
      return
    }
    const upstream = request({ host: '127.0.0.1', port: moto.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      // What S3 answers a principal without s3:ListBucket: 403 for a key that does not exist.
      const status = missingHeadForbidden && req.method === 'HEAD' && answer.statusCode === 404 ? 403 : answer.statusCode!
      res.writeHead(status, answer.headers)
      answer.pipe(res)
    })
    req.pipe(upstream)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) }))
  return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests }
}

async function guardedRun(t: Test, denied: (method: string, url: URL) => boolean, files: number, missingHeadForbidden = false, stored = 0) {
  await moto.reset()
  const backend = await s3Backend(t.testdir(), moto, 'guarded')
  const { endpoint, requests } = await guardedS3(t, denied, missingHeadForbidden)
  const dir = backend.configDir
  writeFileSync(join(dir, 'conf'), `[s3]\nbucket = guarded\nendpoint = ${endpoint}\nforce_path_style = true\n`)
  const tree = join(dir, 'tree')
  mkdirSync(tree)
  const paths = Array.from({ length: files }, (_, i) => join(tree, `f${i}`))
  paths.forEach((p, i) => writeFileSync(p, `file number ${i}\n`))
  const input = await hashed(dir, paths)
  // Some content already stored (by another host), straight through moto.
  const direct = await backend.inspect()
  for (const p of paths.slice(0, stored)) await direct.putBuffer(`content/${sha256(readFileSync(p))}`, readFileSync(p), { lockMode: 'GOVERNANCE', retainUntil: at(30) })
  const started = performance.now()
  const r = await upload(backend, ['--state-dir', join(dir, 'state'), '--run-time', iso(0), '--host', 'h'], input)
  return { r, requests, ms: performance.now() - started }
}

t.test('manifests refused (AccessDenied): one plain log line, the content is asked about instead', async (t) => {
  const { r } = await guardedRun(t, (_, url) => url.searchParams.get('prefix')?.startsWith('manifests/') === true, 3)
  t.equal(r.status, 0, r.io.err())
  t.equal(r.io.err(), 'sysbackup-upload: manifests of h cannot be read (ListObjectsV2 s3://guarded/manifests/h/: AccessDenied: Access Denied); asking the store about content instead\n')
  t.match(r.counts, { warnings: 0, stored: 3, heads: 3 })
})

t.test('AccessDenied on content: exit 3 at once, one line, no stack', async (t) => {
  const { r, requests, ms } = await guardedRun(t, (_, url) => url.pathname.includes('/content/') || url.searchParams.get('prefix') === 'content/', 40)
  t.equal(r.status, 3)
  const lines = r.io.err().trimEnd().split('\n')
  t.equal(lines.length, 1, r.io.err())
  t.match(lines[0], /^sysbackup-upload: ListObjectVersions s3:\/\/guarded\/content\/: AccessDenied: Access Denied$/)
  t.match(r.trailer, { ok: false, reason: /AccessDenied/, counts: { stored: 0 } })
  t.equal(r.files.length, 0, 'no file record claims to be stored')
  t.ok(requests.length <= 3, `stopped at once: ${requests.join(', ')}`)
  t.ok(ms < 5000, `promptly (${Math.round(ms)} ms)`)
})

t.test('the backup role\'s policy: manifests refused and HEADs of missing content 403 — the listing tells absence', async (t) => {
  const noManifests = (_: string, url: URL) => url.searchParams.get('prefix')?.startsWith('manifests/') === true
  const { r } = await guardedRun(t, noManifests, 5, true, 2)
  t.equal(r.status, 0, r.io.err())
  const lines = r.io.err().trimEnd().split('\n')
  t.match(lines, [/cannot be read \(ListObjectsV2 .*AccessDenied/, /^sysbackup-upload: a HEAD of content was refused, as S3 refuses one of a missing key/])
  t.match(r.files.map((f) => f.upload), ['reused', 'reused', 'stored', 'stored', 'stored'])
  t.equal(r.counts.swept, 1, 'the listing answered what HEADs could not')
  t.match(r.trailer, { ok: true, counts: { warnings: 0, stored: 3, reused: 2 } })
})
