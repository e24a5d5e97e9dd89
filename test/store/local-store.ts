/**
 * What is particular to LocalStore: its layout on disk (restorable by hand),
 * its marker, version ids, key rules, listing order and scale, the
 * injectable clock, and concurrent retention updates. The Store contract
 * itself is tested in behaviour.ts.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { gzipSync } from 'node:zlib'
import { FatalError } from '../../src/cli/errors.js'
import { StoreFatalError, storeErrorCode } from '../../src/store/errors.js'
import { dateOfVersion, LocalStore, STORE_MARKER } from '../../src/store/local-store.js'
import type { LatestInfo, VersionInfo } from '../../src/store/store.js'
import { mapUnordered } from '../../src/util/concurrency.js'

const DAY = 86_400_000

/** A clock the test moves by hand. */
function manualClock(start = '2026-03-01T12:00:00.000Z') {
  let now = new Date(start).getTime()
  return {
    now: () => new Date(now),
    set: (iso: string) => { now = new Date(iso).getTime() },
    advance: (ms: number) => { now += ms },
  }
}

async function rejects(p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

function catchSync(fn: () => unknown): unknown {
  try {
    fn()
  } catch (err) {
    return err
  }
  throw new Error('expected an error')
}

async function collect<T>(pages: AsyncIterable<T[]>): Promise<T[][]> {
  const out: T[][] = []
  for await (const p of pages) out.push(p)
  return out
}

t.test('a small body comes whole, its stream made only when read; a large one streams', async (t) => {
  const store = LocalStore.open(join(t.testdir(), 'store'), { create: true })
  const retain = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + DAY) }
  const small = Buffer.from('a small file\n'.repeat(100))
  await store.putBuffer('content/small', small, retain)
  const got = await store.get('content/small')
  t.ok(got.whole?.equals(small), 'the whole body, in memory')
  let holder: object | null = got
  while (holder !== null && !Object.prototype.hasOwnProperty.call(holder, 'body')) holder = Object.getPrototypeOf(holder) as object | null
  t.equal(typeof Object.getOwnPropertyDescriptor(holder!, 'body')?.get, 'function', 'the stream is made on first read, not with the answer')
  t.equal(got.body, got.body, 'made once')
  const streamed: Buffer[] = []
  for await (const chunk of got.body) streamed.push(chunk as Buffer)
  t.ok(Buffer.concat(streamed).equals(small), 'and yields the same bytes')

  const large = Buffer.alloc(1024 * 1024 + 1, 7)
  await store.putBuffer('content/large', large, retain)
  const big = await store.get('content/large')
  t.equal(big.whole, undefined, 'past 1 MiB: no whole body')
  const chunks: Buffer[] = []
  for await (const chunk of big.body) chunks.push(chunk as Buffer)
  t.ok(Buffer.concat(chunks).equals(large), 'it streams')
})

t.test('a version is a plain file, restorable by hand with gunzip', async (t) => {
  const clock = manualClock()
  const dir = join(t.testdir(), 'store')
  const store = LocalStore.open(dir, { create: true, clock: clock.now })
  const plain = Buffer.from('root:x:0:0:root:/root:/bin/bash\n'.repeat(50))
  const sha = createHash('sha256').update(plain).digest('hex')
  const retainUntil = new Date(clock.now().getTime() + 14 * DAY)
  const { versionId } = await store.putBuffer(`content/${sha}`, gzipSync(plain), {
    lockMode: 'GOVERNANCE', retainUntil, contentEncoding: 'gzip', metadata: { 'plain-size': String(plain.length) },
  })
  t.equal(versionId, '20260301T120000.000Z-0000', 'version id: the UTC write time and a sequence')
  const file = join(dir, 'content', sha, versionId)
  t.equal(statSync(file).mode & 0o777, 0o444, 'bytes are read-only')
  const restored = execFileSync('sh', ['-c', 'gunzip < "$1"', 'sh', file])
  t.ok(restored.equals(plain), 'gunzip < DIR/content/<sha>/<version> restores the file')
  const meta = JSON.parse(readFileSync(`${file}.json`, 'utf8')) as Record<string, unknown>
  t.match(meta, {
    key: `content/${sha}`, versionId, size: statSync(file).size, contentEncoding: 'gzip', lockMode: 'GOVERNANCE',
    retainUntil: retainUntil.toISOString(), lastModified: '2026-03-01T12:00:00.000Z', metadata: { 'plain-size': String(plain.length) },
  })
  t.equal(meta.sha256, createHash('sha256').update(readFileSync(file)).digest('hex'), 'the stored bytes\' SHA-256')
  t.same(readdirSync(join(dir, 'content', sha)).sort(), [versionId, `${versionId}.json`], 'no temporary files left')
  t.same((await store.head(`content/${sha}`))!.lastModified, clock.now(), 'lastModified from the injected clock')
})

t.test('the marker: created in an empty directory, required otherwise', async (t) => {
  const root = t.testdir({ empty: {}, busy: { 'notes.txt': 'mine' }, file: 'x' })
  const store = LocalStore.open(join(root, 'new', 'deep'), { create: true })
  t.equal(store.id, `file:${realpathSync(join(root, 'new', 'deep'))}`)
  t.match(JSON.parse(readFileSync(join(root, 'new', 'deep', STORE_MARKER), 'utf8')), { format: 's3-sysbackup local store', version: 1 })
  t.equal(LocalStore.open(join(root, 'new', 'deep')).id, store.id, 'reopened for reading')
  t.ok(LocalStore.open(join(root, 'empty'), { create: true }), 'an empty directory becomes a store')

  const busy = catchSync(() => LocalStore.open(join(root, 'busy'), { create: true }))
  t.ok(busy instanceof StoreFatalError && busy instanceof FatalError, 'a FatalError')
  t.equal(storeErrorCode(busy), 'NotAStore')
  t.match((busy as Error).message, /busy is not an s3-sysbackup store \(no \.s3-sysbackup-store file\) and is not empty; refusing to write into it/)
  t.same(readdirSync(join(root, 'busy')), ['notes.txt'], 'nothing written into it')

  t.equal(storeErrorCode(catchSync(() => LocalStore.open(join(root, 'absent')))), 'NoSuchStore', 'reading a missing directory')
  t.equal(storeErrorCode(catchSync(() => LocalStore.open(join(root, 'file'), { create: true }))), 'NotAStore', 'a plain file')

  writeFileSync(join(root, 'empty', STORE_MARKER), JSON.stringify({ format: 's3-sysbackup local store', version: 99 }))
  t.match((catchSync(() => LocalStore.open(join(root, 'empty'))) as Error).message, /format version 99 is newer/)
})

t.test('cacheId names the store a directory holds: another store made at the same path has another', async (t) => {
  const root = t.testdir({})
  const dir = join(root, 'store')
  const first = LocalStore.open(dir, { create: true })
  const marker = JSON.parse(readFileSync(join(dir, STORE_MARKER), 'utf8')) as { instance: string, createdAt: string }
  t.match(marker.instance, /^[0-9a-f]{32}$/, 'the marker carries a random instance')
  t.equal(first.cacheId, `${first.id}#${marker.instance}`)
  t.equal(LocalStore.open(dir).cacheId, first.cacheId, 'the same store reopened: the same cacheId')

  // The disk is rotated (or the store deleted and made again): a new store at the same path.
  fs.renameSync(dir, join(root, 'disk-a'))
  const second = LocalStore.open(dir, { create: true })
  t.equal(second.id, first.id, 'messages still name the path')
  t.not(second.cacheId, first.cacheId, 'the caches of the first are not the second\'s')
  fs.renameSync(dir, join(root, 'disk-b'))
  fs.renameSync(join(root, 'disk-a'), dir)
  t.equal(LocalStore.open(dir).cacheId, first.cacheId, 'the first disk back in place: its own cacheId again')

  // A marker written before markers had an instance: its creation time names it.
  writeFileSync(join(dir, STORE_MARKER), JSON.stringify({ format: 's3-sysbackup local store', version: 1, createdAt: marker.createdAt }))
  t.equal(LocalStore.open(dir).cacheId, `${first.id}#${marker.createdAt}`)
  writeFileSync(join(dir, STORE_MARKER), JSON.stringify({ format: 's3-sysbackup local store', version: 1 }))
  t.equal(LocalStore.open(dir).cacheId, first.id, 'a marker with neither: the path alone')
})

t.test('a new store another stage is making the marker of at that moment is opened, not refused', async (t) => {
  // What the other opener's writeAtomicSync leaves for an instant: its temporary marker.
  const root = t.testdir({ store: { [`${STORE_MARKER}.tmp-4242`]: '{"format":"s3-sysbackup local store","version":1}\n' } })
  const store = LocalStore.open(join(root, 'store'), { create: true })
  t.equal(store.id, `file:${realpathSync(join(root, 'store'))}`)
  t.match(JSON.parse(readFileSync(join(root, 'store', STORE_MARKER), 'utf8')), { format: 's3-sysbackup local store', version: 1 })
  const other = t.testdir({ store: { [`${STORE_MARKER}.tmp-4242`]: '', 'notes.txt': 'mine' } })
  t.equal(storeErrorCode(catchSync(() => LocalStore.open(join(other, 'store'), { create: true }))), 'NotAStore', 'anything else there is still refused')
})

t.test('version ids keep increasing when the clock steps back', async (t) => {
  const clock = manualClock()
  const store = LocalStore.open(join(t.testdir(), 's'), { create: true, clock: clock.now })
  const opts = () => ({ lockMode: 'GOVERNANCE' as const, retainUntil: new Date(clock.now().getTime() + DAY) })
  const a = (await store.putBuffer('k', Buffer.from('a'), opts())).versionId
  const b = (await store.putBuffer('k', Buffer.from('b'), opts())).versionId
  clock.advance(-3_600_000)
  const c = (await store.putBuffer('k', Buffer.from('c'), opts())).versionId
  clock.advance(7_200_000)
  const d = (await store.putBuffer('k', Buffer.from('d'), opts())).versionId
  t.same([a, b, c, d], ['20260301T120000.000Z-0000', '20260301T120000.000Z-0001', '20260301T120000.000Z-0002', '20260301T130000.000Z-0000'])
  t.equal((await store.head('k'))!.versionId, d, 'the greatest is the latest')
  t.same(dateOfVersion(c), new Date('2026-03-01T12:00:00.000Z'))
})

t.test('concurrent writers of one key get distinct versions', async (t) => {
  const store = LocalStore.open(join(t.testdir(), 's'), { create: true })
  const retainUntil = new Date(Date.now() + DAY)
  const ids = await Promise.all(Array.from({ length: 20 }, (_, i) =>
    store.putBuffer('manifests/h/m', Buffer.from(String(i)), { lockMode: 'GOVERNANCE', retainUntil }).then((r) => r.versionId)))
  t.equal(new Set(ids).size, 20)
  const listed = (await collect(store.listVersions('manifests/'))).flat()
  t.equal(listed.length, 20)
})

t.test('a put of a buffer writes its bytes under the version id: no temporary file, no link, and no readdir of a new key', async (t) => {
  const calls: string[] = []
  const counted = <A extends unknown[], R>(name: string, fn: (...args: A) => R) => (...args: A): R => {
    calls.push(name)
    return fn(...args)
  }
  const { LocalStore: Counted } = await t.mockImport<typeof import('../../src/store/local-store.js')>('../../src/store/local-store.js', {
    'node:fs': { ...fs, readdirSync: counted('readdir', fs.readdirSync), linkSync: counted('link', fs.linkSync), renameSync: counted('rename', fs.renameSync) },
  })
  const dir = join(t.testdir(), 's')
  const store = Counted.open(dir, { create: true })
  const opts = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + DAY) }
  calls.length = 0
  const first = await store.putBuffer('content/new', Buffer.from('one'), opts)
  t.same(calls, ['rename'], 'a new key: the .json renamed into place, nothing else')
  t.same(readdirSync(join(dir, 'content', 'new')).sort(), [first.versionId, `${first.versionId}.json`], 'no temporary left')
  calls.length = 0
  const second = await store.putBuffer('content/new', Buffer.from('two'), opts)
  t.same(calls, ['readdir', 'rename'], 'a key with versions: its directory read for the newest id')
  t.ok(second.versionId > first.versionId)
  const { body } = await store.get('content/new', first.versionId)
  const chunks: Buffer[] = []
  for await (const c of body) chunks.push(c as Buffer)
  t.equal(Buffer.concat(chunks).toString(), 'one', 'each version holds its own bytes')
})

t.test('retention follows the injected clock', async (t) => {
  const clock = manualClock()
  const store = LocalStore.open(join(t.testdir(), 's'), { create: true, clock: clock.now })
  const until = new Date(clock.now().getTime() + 2 * DAY)
  const { versionId } = await store.putBuffer('content/c', Buffer.from('c'), { lockMode: 'COMPLIANCE', retainUntil: until })
  t.equal(storeErrorCode(await rejects(store.deleteVersion('content/c', versionId, { bypassGovernance: true }))), 'AccessDenied')
  clock.advance(2 * DAY + 1)
  t.equal(storeErrorCode(await rejects(store.putBuffer('content/d', Buffer.from('d'), { lockMode: 'GOVERNANCE', retainUntil: until }))), 'InvalidLock', 'a retain-until now in the past')
  await store.deleteVersion('content/c', versionId)
  t.equal(await store.head('content/c'), null, 'an expired lock no longer protects the version')
  t.equal(storeErrorCode(await rejects(store.deleteVersion('content/c', versionId))), 'NoSuchVersion')
})

t.test('concurrent extensions never lose the longest', async (t) => {
  const clock = manualClock()
  const store = LocalStore.open(join(t.testdir(), 's'), { create: true, clock: clock.now })
  const base = clock.now().getTime() + DAY
  const { versionId } = await store.putBuffer('content/x', Buffer.from('x'), { lockMode: 'GOVERNANCE', retainUntil: new Date(base) })
  const days = Array.from({ length: 24 }, (_, i) => ((i * 7) % 24) + 1)
  const results = await Promise.allSettled(days.map((d) => store.extendRetention('content/x', versionId, 'GOVERNANCE', new Date(base + d * DAY))))
  // Whatever the interleaving, each call either extended or was refused as shortening: never lost.
  for (const r of results) if (r.status === 'rejected') t.equal(storeErrorCode(r.reason), 'WouldShortenRetention')
  t.same((await store.getRetention('content/x', versionId)).retainUntil, new Date(base + 24 * DAY), 'the longest wins')
})

t.test('keys the directory layout cannot hold are refused', async (t) => {
  const dir = join(t.testdir(), 's')
  const store = LocalStore.open(dir, { create: true })
  const opts = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + DAY) }
  for (const key of ['../escape', 'content/../../x', 'a//b', '/abs', 'a/.hidden', 'a/20260301T120000.000Z-0000', 'x/20260301T120000.000Z-0000.json']) {
    const err = await rejects(store.putBuffer(key, Buffer.from('x'), opts))
    t.equal(storeErrorCode(err), 'InvalidKey', key)
    t.match((err as Error).message, /^PutObject .*: InvalidKey: a local store cannot hold this key: /)
  }
  t.same(readdirSync(dir), [STORE_MARKER], 'nothing written')
  t.same(await collect(store.listVersions('../')), [], 'a prefix cannot escape the directory either')
})

t.test('listing order is S3\'s, whatever the directory nesting', async (t) => {
  const store = LocalStore.open(join(t.testdir(), 's'), { create: true })
  const keys = ['a', 'a/x', 'a/x/deep', 'a-b', 'a-b/y', 'a.c', 'a0', 'b', 'snapshots/h/2026-01-01T00:00:00Z-db', 'é', '𝄞', '\uffee']
  const opts = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + DAY) }
  for (const k of [...keys].reverse()) await store.putBuffer(k, Buffer.from(k), opts)
  const s3Order = [...keys].sort((x, y) => Buffer.compare(Buffer.from(x), Buffer.from(y)))
  t.same((await collect(store.listVersions(''))).flat().map((v) => v.key), s3Order, 'UTF-8 byte order of the whole key')
  t.same((await collect(store.listLatest('a'))).flat().map((v) => v.key), s3Order.filter((k) => k.startsWith('a')))
})

t.test('1,200 keys list in two pages of at most 1,000', async (t) => {
  const root = t.testdir()
  const store = LocalStore.open(join(root, 's'), { create: true })
  const opts = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + DAY) }
  const put = (i: number) => store.putBuffer(`content/${createHash('sha256').update(String(i)).digest('hex')}`, Buffer.from(String(i)), opts)
  for await (const _ of mapUnordered(Array.from({ length: 1200 }, (_, i) => i), 16, put));
  const before = store.requests.snapshot()
  const pages: VersionInfo[][] = await collect(store.listVersions('content/'))
  t.same(pages.map((p) => p.length), [1000, 200])
  t.same(store.requests.since(before), { ListObjectVersions: 2 })
  const latest: LatestInfo[][] = await collect(store.listLatest('content/'))
  t.same(latest.map((p) => p.length), [1000, 200])
  const keys = pages.flat().map((v) => v.key)
  t.same(keys, [...keys].sort(), 'sorted')
})

t.test('what the listing skips: temporaries, half-written versions, stray entries', async (t) => {
  const dir = join(t.testdir(), 's')
  const store = LocalStore.open(dir, { create: true })
  const { versionId } = await store.putBuffer('content/ok', Buffer.from('ok'), { lockMode: 'GOVERNANCE', retainUntil: new Date(Date.now() + DAY) })
  mkdirSync(join(dir, 'content', 'half'))
  writeFileSync(join(dir, 'content', 'half', '20260101T000000.000Z-0000'), 'bytes without their .json: a crash between the two writes')
  writeFileSync(join(dir, 'content', 'ok', '.tmp-1-abc'), 'a temporary')
  symlinkSync('/etc', join(dir, 'content', '.link'))
  t.same((await collect(store.listVersions(''))).flat().map((v) => [v.key, v.versionId]), [['content/ok', versionId]])
  t.equal(await store.head('content/half'), null)
  // The half-written id is not reused: the next version sorts after it.
  const next = await store.putBuffer('content/half', Buffer.from('x'), { lockMode: 'GOVERNANCE', retainUntil: new Date(Date.now() + DAY) })
  t.ok(next.versionId > '20260101T000000.000Z-0000')
})

t.test('a missing directory opened for a dry run reads as an empty store and is not created', async (t) => {
  const dir = join(t.testdir({}), 'not-yet')
  const store = LocalStore.open(dir, { missingIsEmpty: true })
  const pages: unknown[] = []
  for await (const page of store.listVersions('content/')) pages.push(...page)
  for await (const page of store.listLatest('manifests/')) pages.push(...page)
  t.same(pages, [])
  t.equal(await store.head('content/' + 'a'.repeat(64)), null)
  t.notOk(existsSync(dir), 'nothing created')
  t.throws(() => LocalStore.open(dir), /does not exist/, 'without the option it is an error')
})

t.test('durability is batched: a journal file until makeDurable, which syncs the file system once', async (t) => {
  const dir = join(t.testdir(), 's')
  const store = LocalStore.open(dir, { create: true })
  const journals = () => readdirSync(dir).filter((n) => n.startsWith('.unsynced-'))
  t.same(journals(), [], 'no journal before a write')
  const retain = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + DAY) }
  await store.putBuffer('content/a', Buffer.from('a'), retain)
  await store.putStream('content/b', (async function* () { yield Buffer.from('b') })(), retain)
  t.equal(journals().length, 1, 'one journal for the writes of this store object')
  t.match(JSON.parse(readFileSync(join(dir, journals()[0]!), 'utf8')), { bootId: readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim(), since: /^\d{8}T\d{6}\.\d{3}Z-0000$/ })
  t.equal(LocalStore.open(dir).id, store.id, 'a journal of this boot is left alone by another opener (its writer may still be running)')
  t.equal(journals().length, 1)
  await store.makeDurable()
  t.same(journals(), [], 'the journal goes once the writes are durable')
  t.equal((await store.head('content/a'))!.size, 1)
  await store.makeDurable()
  t.same(journals(), [], 'nothing pending: still fine')
})

t.test('makeDurable syncs only when some writer, of this store object or another, has a journal', async (t) => {
  // A `sync` earlier on PATH notes each call, then does the real one.
  const bin = t.testdir({ log: '' })
  const log = join(bin, 'log')
  writeFileSync(join(bin, 'sync'), `#!/bin/sh\necho "$*" >> '${log}'\nexec ${execFileSync('sh', ['-c', 'command -v sync'], { encoding: 'utf8' }).trim()} "$@"\n`, { mode: 0o755 })
  const path = process.env.PATH
  process.env.PATH = `${bin}:${path}`
  t.teardown(() => { process.env.PATH = path })
  const syncs = () => readFileSync(log, 'utf8').split('\n').filter(Boolean).length

  const dir = join(bin, 's')
  const writer = LocalStore.open(dir, { create: true })
  const reader = LocalStore.open(dir)
  await reader.makeDurable()
  t.equal(syncs(), 0, 'nothing written: no sync')
  const retain = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + DAY) }
  await writer.putBuffer('content/a', Buffer.from('a'), retain)
  await reader.makeDurable()
  t.equal(syncs(), 1, 'another object\'s journal: a sync, which covers its writes too')
  await writer.makeDurable()
  t.equal(syncs(), 2, 'the writer syncs and drops its journal')
  await reader.makeDurable()
  await writer.makeDurable()
  t.equal(syncs(), 2, 'no journal left: no sync')
})

t.test('after a crash before the sync, versions written since whose bytes were lost are hidden', async (t) => {
  const clock = manualClock()
  const dir = join(t.testdir(), 's')
  const store = LocalStore.open(dir, { create: true, clock: clock.now })
  const retain = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(clock.now().getTime() + DAY) }
  const old = await store.putBuffer('content/old', Buffer.from('durable before the journal'), retain)
  await store.makeDurable()
  clock.advance(1000)
  const whole = await store.putBuffer('content/whole', Buffer.from('survived the crash'), retain)
  const lost = await store.putBuffer('content/lost', Buffer.from('lost in the crash'), retain)
  const emptied = await store.putBuffer('content/emptied', Buffer.from('its .json was lost'), retain)
  // What a machine that went down before syncfs can leave: a journal of another boot, bytes cut short, an empty .json.
  const journal = readdirSync(dir).find((n) => n.startsWith('.unsynced-'))!
  const text = readFileSync(join(dir, journal), 'utf8')
  writeFileSync(join(dir, journal), text.replace(/"bootId":"[^"]*"/, '"bootId":"an-earlier-boot"'))
  const lostFile = join(dir, 'content', 'lost', lost.versionId)
  execFileSync('chmod', ['u+w', lostFile])
  writeFileSync(lostFile, 'lost')
  writeFileSync(join(dir, 'content', 'emptied', `${emptied.versionId}.json`), '')

  const reopened = LocalStore.open(dir, { clock: clock.now })
  const listed = (await collect(reopened.listVersions('content/'))).flat().map((v) => `${v.key} ${v.versionId}`)
  t.same(listed, [`content/old ${old.versionId}`, `content/whole ${whole.versionId}`], 'only whole versions are listed')
  t.equal(await reopened.head('content/lost'), null)
  t.ok(existsSync(join(dir, 'content', 'lost', `.lost-${lost.versionId}`)), 'the damaged bytes are kept out of sight, not deleted')
  t.same(readdirSync(dir).filter((n) => n.startsWith('.unsynced-')), [], 'the journal is done with')
})
