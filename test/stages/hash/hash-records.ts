import t from 'tap'
import { createHash } from 'node:crypto'
import { chownSync, mkdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { StageContext } from '../../../src/cli/stage.js'
import { RecordError } from '../../../src/protocol/read-records.js'
import type { FileRecord, Rec } from '../../../src/protocol/records.js'
import { FilesCache } from '../../../src/stages/hash/files-cache.js'
import { hashRecords, type HashOptions } from '../../../src/stages/hash/hash-records.js'
import { identityKey } from '../../../src/stages/hash/identity.js'
import { readContent, wallClockNs } from '../../../src/stages/hash/read-content.js'
import { fileRecord } from '../../helpers/entries.js'
import { holdExclusiveLock, textOf } from '../../helpers/files.js'
import { testIO } from '../../helpers/io.js'

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex')
/** A clock 10 s ahead, so files written by the test are not "just modified". */
const later = () => wallClockNs() + 10_000_000_000n

interface Run { out: Rec[], counts: Record<string, number>, stderr: string, cache: FilesCache }

/** Runs hashRecords over `records` with a cache loaded from (and saved back to) `cacheFile`. */
async function hashAll(records: Rec[], cacheFile: string, options: Partial<HashOptions> = {}): Promise<Run> {
  const io = testIO()
  const ctx = new StageContext('sysbackup-hash', io, new AbortController())
  const { cache } = await FilesCache.load(cacheFile)
  const out: Rec[] = []
  for await (const rec of hashRecords(ctx, records, { jobs: 4, lockTimeoutMs: 1000, cache, useCache: true, nowNs: later, ...options })) out.push(rec)
  await cache.save(cacheFile, false)
  return { out, counts: ctx.counts, stderr: io.err(), cache }
}

t.test('file records gain sha256, readSize, gzip, lockedRead; other records pass unchanged, in order', async (t) => {
  const dir = t.testdir({ 'a.conf': textOf(5000), 'b.bin': '', sub: {} })
  const c = Buffer.alloc(3_000_000, 7)
  writeFileSync(join(dir, 'c.img'), c)
  const others: Rec[] = [
    { type: 'dir', path: join(dir, 'sub'), mode: '0755', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: '1:1', nlink: 2 },
    { type: 'x-later-stage', nested: { a: [1, 2] } },
    { type: 'error', stage: 'sysbackup-pick', message: 'picker failed', code: 'EIO' },
  ]
  const input = [others[0]!, fileRecord(join(dir, 'a.conf')), others[1]!, fileRecord(join(dir, 'b.bin')), others[2]!, fileRecord(join(dir, 'c.img'))]
  const { out, counts } = await hashAll(input, join(dir, 'cache'))
  t.equal(out.length, 6)
  t.same(out[0], others[0])
  t.same(out[2], others[1])
  t.same(out[4], others[2])
  t.same(out[1], { ...input[1], sha256: sha256(textOf(5000)), readSize: 5000, gzip: true, lockedRead: true })
  t.same(out[3], { ...input[3], sha256: sha256(''), readSize: 0, gzip: false, lockedRead: true })
  t.same(out[5], { ...input[5], sha256: sha256(c), readSize: c.length, gzip: true, lockedRead: true })
  t.match(counts, { files: 3, filesRead: 3, cacheHits: 0, bytesRead: 5000 + c.length, notCached: 0, errors: 0, warnings: 0 })
})

t.test('a second run with the saved cache reads nothing and gives identical records', async (t) => {
  const dir = t.testdir({ 'one.txt': textOf(1000), 'two.txt': textOf(70_000) })
  const input = [fileRecord(join(dir, 'one.txt')), fileRecord(join(dir, 'two.txt'))]
  const cold = await hashAll(input, join(dir, 'cache'))
  t.match(cold.counts, { filesRead: 2, cacheHits: 0 })
  const warm = await hashAll(input, join(dir, 'cache'))
  t.match(warm.counts, { files: 2, filesRead: 0, bytesRead: 0, cacheHits: 2 })
  t.same(warm.out, cold.out)
})

t.test('--no-cache (useCache false) reads again but still remembers', async (t) => {
  const dir = t.testdir({ f: 'content' })
  const input = [fileRecord(join(dir, 'f'))]
  await hashAll(input, join(dir, 'cache'))
  const forced = await hashAll(input, join(dir, 'cache'), { useCache: false })
  t.match(forced.counts, { filesRead: 1, cacheHits: 0 })
  t.equal(forced.cache.currentEntries, 1)
  t.match((await hashAll(input, join(dir, 'cache'))).counts, { cacheHits: 1 })
})

t.test('a file changed between runs (content and mtime) is read again', async (t) => {
  const dir = t.testdir({ f: 'version one\n' })
  const path = join(dir, 'f')
  const first = await hashAll([fileRecord(path)], join(dir, 'cache'))
  writeFileSync(path, 'version two, longer\n')
  const second = await hashAll([fileRecord(path)], join(dir, 'cache'))
  t.match(second.counts, { filesRead: 1, cacheHits: 0 })
  t.equal(second.out[0]!.sha256, sha256('version two, longer\n'))
  t.not(second.out[0]!.sha256, first.out[0]!.sha256)
})

t.test('a rewrite that keeps size and mtime is still caught by ctime', async (t) => {
  const dir = t.testdir({ f: 'AAAA' })
  const path = join(dir, 'f')
  await hashAll([fileRecord(path)], join(dir, 'cache'))
  const { atime, mtime } = statSync(path)
  writeFileSync(path, 'BBBB')
  utimesSync(path, atime, mtime)
  const rec = fileRecord(path)
  t.equal(rec.size, 4)
  const second = await hashAll([rec], join(dir, 'cache'))
  t.match(second.counts, { filesRead: 1, cacheHits: 0 })
  t.equal(second.out[0]!.sha256, sha256('BBBB'))
})

t.test('a file modified within 2 s of the read is hashed but not cached (racy timestamps)', async (t) => {
  const dir = t.testdir({ f: 'just written' })
  const input = [fileRecord(join(dir, 'f'))]
  const first = await hashAll(input, join(dir, 'cache'), { nowNs: wallClockNs })
  t.equal(first.out[0]!.sha256, sha256('just written'))
  t.match(first.counts, { filesRead: 1, notCached: 1, warnings: 0 })
  t.equal(first.cache.currentEntries, 0)
  t.match((await hashAll(input, join(dir, 'cache'))).counts, { filesRead: 1, cacheHits: 0 }, 'read again next time')
})

t.test('a file changed since it was picked: record updated from fstat, warning, hash of what was read', async (t) => {
  const dir = t.testdir({ f: 'as picked' })
  const path = join(dir, 'f')
  const picked = fileRecord(path, { user: 'root', group: 'root' })
  writeFileSync(path, 'rewritten after the pick')
  chownSync(path, 1000, 1000)
  const now = statSync(path, { bigint: true })
  const { out, counts, stderr } = await hashAll([picked], join(dir, 'cache'))
  t.equal(out.length, 2)
  t.match(out[0], { type: 'warning', stage: 'sysbackup-hash', path, message: /^changed since it was picked \(size 9 -> 24, mtime, ctime\)/ })
  const file = out[1] as FileRecord
  t.equal(file.sha256, sha256('rewritten after the pick'))
  t.equal(file.size, 24)
  t.equal(file.mtimeNs, String(now.mtimeNs))
  t.equal(file.ctimeNs, String(now.ctimeNs))
  t.equal(file.uid, 1000)
  t.equal(file.gid, 1000)
  t.notOk('user' in file, 'the picked owner name belonged to the old uid')
  t.notOk('group' in file)
  t.match(counts, { changed: 1, warnings: 1, errors: 0 })
  t.match(stderr, `sysbackup-hash: warning: ${path}: changed since it was picked`)
  t.same((await hashAll([fileRecord(path)], join(dir, 'cache'))).counts.cacheHits, 1, 'cached under the identity read')
})

t.test('a file replaced by another (new inode) since the pick', async (t) => {
  const dir = t.testdir({ f: 'old', g: 'new inode' })
  const picked = fileRecord(join(dir, 'f'))
  renameSync(join(dir, 'g'), join(dir, 'f'))
  const { out } = await hashAll([picked], join(dir, 'cache'))
  t.match(out[0], { type: 'warning', message: /changed since it was picked \(inode \d+:\d+ -> \d+:\d+/ })
  const st = statSync(join(dir, 'f'))
  t.match(out[1], { storageId: `${st.dev}:${st.ino}`, sha256: sha256('new inode'), size: 9 })
})

t.test('vanished files are warnings, non-regular replacements are errors; the stream goes on', async (t) => {
  const dir = t.testdir({ gone: 'x', dir: 'x', ok: 'fine' })
  const gone = fileRecord(join(dir, 'gone'))
  const replaced = fileRecord(join(dir, 'dir'))
  rmSync(join(dir, 'gone'))
  rmSync(join(dir, 'dir'))
  mkdirSync(join(dir, 'dir'))
  const { out, counts } = await hashAll([gone, replaced, fileRecord(join(dir, 'ok')), { type: 'after' }], join(dir, 'cache'))
  t.same(out.map((r) => r.type), ['warning', 'error', 'file', 'after'])
  t.match(out[0], { type: 'warning', path: join(dir, 'gone'), code: 'ENOENT', message: 'vanished since it was picked; not backed up' })
  t.match(out[1], { type: 'error', path: join(dir, 'dir'), message: 'is no longer a regular file (it is now a directory); not backed up' })
  t.match(counts, { vanished: 1, notRegular: 1, errors: 1, warnings: 1, filesRead: 1 })
})

t.test('a file whose bytes read differ from its size is hashed as read and not cached', async (t) => {
  // procfs files are regular with size 0 but have content: the same
  // mismatch a file truncated or extended mid-read shows.
  const dir = t.testdir({})
  const { out, counts, cache } = await hashAll([fileRecord('/proc/version')], join(dir, 'cache'))
  const content = readFileSync('/proc/version')
  t.match(out[0], { type: 'warning', message: `changed while it was read (read ${content.length} bytes of 0); the hash is of the bytes read` })
  t.match(out[1], { sha256: sha256(content), readSize: content.length, size: 0 })
  t.match(counts, { changedDuringRead: 1, notCached: 1 })
  t.equal(cache.currentEntries, 0)
})

t.test('a file touched during the read shows in the fstat before and after', async (t) => {
  const path = join(t.testdir({}), 'big')
  writeFileSync(path, Buffer.alloc(64 * 1024 * 1024))
  const timer = setTimeout(() => utimesSync(path, new Date(), new Date(Date.now() + 5000)), 100)
  // 4 KiB reads: 16384 round trips to the thread pool take well over 100 ms.
  const r = await readContent(path, { lockTimeoutMs: 0, buffer: Buffer.alloc(4096) })
  clearTimeout(timer)
  t.equal(r.kind, 'read')
  if (r.kind === 'read') t.not(r.after.mtimeNs, r.before.mtimeNs)
})

t.test('a file read without the lock is hashed, warned about and not cached', async (t) => {
  const dir = t.testdir({ f: 'held' })
  const path = join(dir, 'f')
  await holdExclusiveLock(t, path, 5)
  const { out, counts, cache } = await hashAll([fileRecord(path)], join(dir, 'cache'), { lockTimeoutMs: 200 })
  t.match(out[0], { type: 'warning', code: 'EWOULDBLOCK', message: 'read without a shared lock (another process held an exclusive lock for 0.2 s)' })
  t.match(out[1], { sha256: sha256('held'), lockedRead: false })
  t.match(counts, { unlockedReads: 1, notCached: 1 })
  t.equal(cache.currentEntries, 0)
})

t.test('records after a file being read keep coming in; only the reads are limited to jobs', async (t) => {
  const dir = t.testdir({ held: 'held', also: 'also held' })
  const held = join(dir, 'held')
  const also = join(dir, 'also')
  await holdExclusiveLock(t, held, 5)
  await holdExclusiveLock(t, also, 5)
  let pulled = 0
  async function* source(): AsyncGenerator<Rec> {
    yield fileRecord(held)
    yield fileRecord(also)
    for (let i = 0; i < 300; i++) {
      pulled++
      yield { type: 'x-other', i }
    }
  }
  const ctx = new StageContext('sysbackup-hash', testIO(), new AbortController())
  const { cache } = await FilesCache.load(join(dir, 'cache'))
  const started = performance.now()
  let pulledAtFirstOutput: number | undefined
  const out: Rec[] = []
  for await (const rec of hashRecords(ctx, source(), { jobs: 1, lockTimeoutMs: 300, cache, useCache: true, nowNs: later })) {
    pulledAtFirstOutput ??= pulled
    out.push(rec)
  }
  t.equal(pulledAtFirstOutput, 300, 'every record after the files was taken in while they were read')
  t.ok(performance.now() - started >= 590, 'one file read at a time: the second wait for its lock began after the first')
  t.same(out.map((r) => r.type).slice(0, 5), ['warning', 'file', 'warning', 'file', 'x-other'], 'output in input order')
  t.equal(out.length, 304)
  t.same(out.at(-1), { type: 'x-other', i: 299 })
})

t.test('a file record without the fields hash needs is a RecordError', async (t) => {
  const path = join(t.testdir({ f: 'x' }), 'f')
  const good = fileRecord(path)
  const cases: [string, Rec, RegExp][] = [
    ['no storageId', { ...good, storageId: undefined }, /"storageId" is not "<dev>:<ino>"/],
    ['bad storageId', { ...good, storageId: 'abc' }, /"storageId"/],
    ['numeric mtimeNs', { ...good, mtimeNs: 17 }, /"mtimeNs" is not a decimal string of nanoseconds/],
    ['no ctimeNs', { ...good, ctimeNs: undefined }, /"ctimeNs"/],
    ['no uid', { ...good, uid: undefined }, /"uid" is not a non-negative integer/],
  ]
  for (const [name, rec, message] of cases) {
    const err = await hashAll([rec], path + '.cache').then(() => null, (e: unknown) => e)
    t.type(err, RecordError, name)
    t.match((err as RecordError).detail, message, name)
  }
})

t.test('the cache key is the identity as read', async (t) => {
  const dir = t.testdir({ f: 'x' })
  const rec = fileRecord(join(dir, 'f'))
  const { cache } = await hashAll([rec], join(dir, 'cache'))
  t.same(cache.currentEntries, 1)
  const loaded = (await FilesCache.load(join(dir, 'cache'))).cache
  t.same(loaded.lookup(identityKey(rec)), { sha256: sha256('x'), gzip: false })
})

t.test('names that are not UTF-8 are read through pathB64 and reported the same way', async (t) => {
  const dir = t.testdir({})
  const name = Buffer.concat([Buffer.from(dir + '/caf'), Buffer.from([0xe9]), Buffer.from('.txt')])
  const gone = Buffer.concat([Buffer.from(dir + '/gone'), Buffer.from([0xff])])
  writeFileSync(name, 'latin-1 name')
  writeFileSync(gone, 'soon gone')
  const recs = [fileRecord(name), fileRecord(gone)]
  rmSync(gone)
  t.equal(recs[0]!.pathB64, name.toString('base64'))
  const { out } = await hashAll(recs, join(dir, 'cache'))
  t.match(out[0], { type: 'file', pathB64: name.toString('base64'), sha256: sha256('latin-1 name') })
  t.notOk('path' in out[0]!)
  t.match(out[1], { type: 'warning', pathB64: gone.toString('base64'), code: 'ENOENT' })
})
