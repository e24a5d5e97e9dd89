import t from 'tap'
import { createHash } from 'node:crypto'
import { readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { contentCacheFile, loadContentCache, saveContentCache, type ContentCacheData } from '../../../src/stages/upload/content-cache.js'
import { PrefixSet, prefixOf } from '../../../src/stages/upload/prefix-set.js'
import { UsedVersions, type VersionMap } from '../../../src/stages/upload/version-map.js'

const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const NOW = new Date('2026-11-26T08:00:00Z')
const days = (n: number) => new Date(NOW.getTime() + n * 86_400_000)
const STORE = 'file:/srv/store with spaces/éé'

function sample(): ContentCacheData {
  return {
    versions: new Map([
      [sha('a'), { versionId: 'v-a', retainUntil: days(10) }],
      [sha('b'), { versionId: 'v.b_1', retainUntil: days(1) }],
      [sha('no-lock'), { versionId: 'v-n', retainUntil: null }],
    ]),
    index: PrefixSet.of([prefixOf(sha('a')), prefixOf(sha('old'))]),
    state: { complete: true, sweptAt: days(-2), shared: false, versions: 1234 },
  }
}

t.test('round trip: versions with their retention, the index, the index state', async (t) => {
  const file = contentCacheFile(t.testdir(), STORE)
  t.match(file, /\/content-versions-[0-9a-f]{16}$/)
  t.equal(await saveContentCache(file, STORE, sample()), 2, 'a version without retention is not saved')
  t.equal(statSync(file).mode & 0o777, 0o600)
  const loaded = await loadContentCache(file, STORE, NOW)
  t.equal(loaded.problem, undefined)
  t.equal(loaded.entries, 2)
  const data = loaded.data!
  t.same([...data.versions.keys()].sort(), [sha('a'), sha('b')].sort())
  t.same(data.versions.get(sha('b')), { versionId: 'v.b_1', retainUntil: days(1) })
  t.same(data.state, { complete: true, sweptAt: days(-2), shared: false, versions: 1234 })
  for (const s of ['a', 'b', 'old']) t.ok(data.index.has(sha(s)), `index has ${s}`)
  t.notOk(data.index.has(sha('no-lock')), 'a version without retention is not indexed through the cache')
})

t.test('versions no longer retained are not trusted, but stay in the index', async (t) => {
  const file = contentCacheFile(t.testdir(), STORE)
  await saveContentCache(file, STORE, sample())
  const later = await loadContentCache(file, STORE, days(5))
  t.same([...later.data!.versions.keys()], [sha('a')], 'b was retained until day 1')
  t.ok(later.data!.index.has(sha('b')))
  t.equal(later.entries, 2)
})

t.test('a missing cache is no problem; damaged, foreign and other-store caches are, and are ignored', async (t) => {
  const dir = t.testdir()
  const file = contentCacheFile(dir, STORE)
  t.same(await loadContentCache(file, STORE, NOW), { data: null, entries: 0 })
  t.same(await loadContentCache(join(dir, 'no', 'such', 'dir', 'x'), STORE, NOW), { data: null, entries: 0 })
  await saveContentCache(file, STORE, sample())
  const good = readFileSync(file, 'latin1')
  for (const [name, text, reason] of [
    ['truncated', good.slice(0, -10), /is truncated/],
    ['one digit changed', good.replace('v-a', 'v-x'), /is corrupted \(checksum mismatch\)/],
    ['not a cache', 'something else\n', /is not a content versions cache/],
    ['a newer format', good.replace('content versions 1', 'content versions 2'), /is in a format this version does not read/],
  ] as const) {
    writeFileSync(file, text)
    const loaded = await loadContentCache(file, STORE, NOW)
    t.equal(loaded.data, null, name)
    t.match(loaded.problem, reason, name)
    t.match(loaded.problem, /; it is ignored \(this run asks the store instead\)$/)
  }
  writeFileSync(file, good)
  const other = await loadContentCache(file, 's3:another-bucket', NOW)
  t.equal(other.data, null)
  t.match(other.problem, `content versions cache belongs to another store (${STORE})`)
})

t.test('one cache file per store', async (t) => {
  const dir = t.testdir()
  t.not(contentCacheFile(dir, 's3:a'), contentCacheFile(dir, 's3:b'))
  t.equal(contentCacheFile(dir, 's3:a'), contentCacheFile(dir, 's3:a'))
})

t.test('an unreadable cache is a problem with its errno code', async (t) => {
  const dir = t.testdir({ cache: { 'is-a-dir': {} } })
  const loaded = await loadContentCache(join(dir, 'cache', 'is-a-dir'), STORE, NOW)
  t.equal(loaded.data, null)
  t.equal(loaded.code, 'EISDIR')
})

t.test('prefix sets: membership by the first 64 bits, additions, merging', async (t) => {
  const set = PrefixSet.of([prefixOf(sha('x')), prefixOf(sha('x')), prefixOf(sha('y'))])
  t.equal(set.size, 2, 'duplicates fold')
  t.ok(set.has(sha('x')))
  t.notOk(set.has(sha('z')))
  set.add(sha('z'))
  t.ok(set.has(sha('z')))
  for (let i = 0; i < 10_000; i++) set.add(sha(`n${i}`))
  t.equal(set.size, 10_003)
  t.ok(set.has(sha('n9999')) && set.has(sha('y')))
  const other = PrefixSet.of([prefixOf(sha('w'))])
  other.addAll(set)
  t.equal(other.size, 10_004)
  const sorted = other.prefixes()
  t.ok(sorted.every((v, i) => i === 0 || sorted[i - 1]! < v), 'ascending')
})

t.test('versions with the same retention share one Date (a Date costs as much heap as the rest of an entry)', async (t) => {
  const file = contentCacheFile(t.testdir(), STORE)
  const data = sample()
  data.versions = new Map([...data.versions, [sha('c'), { versionId: 'v-c', retainUntil: days(10) }]])
  await saveContentCache(file, STORE, data)
  const versions = (await loadContentCache(file, STORE, NOW)).data!.versions
  const a = versions.get(sha('a'))!.retainUntil
  t.same(a, days(10))
  t.equal(versions.get(sha('c'))!.retainUntil, a, 'the same Date object')
  t.not(versions.get(sha('b'))!.retainUntil, a, 'another time, another Date')
})

t.test('a version id the file cannot hold is not saved (nor its prefix as a version)', async (t) => {
  const file = contentCacheFile(t.testdir(), STORE)
  const data = sample()
  data.versions = new Map([...data.versions, [sha('odd'), { versionId: 'v é', retainUntil: days(3) }]])
  data.index = PrefixSet.of([prefixOf(sha('a')), prefixOf(sha('odd'))])
  t.equal(await saveContentCache(file, STORE, data), 2)
  const loaded = (await loadContentCache(file, STORE, NOW)).data!
  t.equal(loaded.versions.get(sha('odd')), undefined)
  t.ok(loaded.index.has(sha('odd')), 'its hash stays in the index as a prefix line')
})

t.test('loaded versions are saved again byte for byte', async (t) => {
  const dir = t.testdir()
  const first = contentCacheFile(dir, STORE)
  await saveContentCache(first, STORE, sample())
  const loaded = (await loadContentCache(first, STORE, NOW)).data!
  const second = join(dir, 'again')
  t.equal(await saveContentCache(second, STORE, loaded), 2)
  t.equal(readFileSync(second, 'latin1'), readFileSync(first, 'latin1'))
})

t.test('saved over the file it was loaded from, unchanged: not written again; changed: written', async (t) => {
  const file = contentCacheFile(t.testdir(), STORE)
  await saveContentCache(file, STORE, sample())
  const before = statSync(file).ino // a write renames a new file into place
  const loaded = await loadContentCache(file, STORE, NOW)
  t.equal(await saveContentCache(file, STORE, loaded.data!, loaded.bytes), 2, 'its entries counted')
  t.equal(statSync(file).ino, before, 'the same bytes: not rewritten')
  const state = { ...loaded.data!.state, versions: 1235 }
  t.equal(await saveContentCache(file, STORE, { ...loaded.data!, state }, loaded.bytes), 2)
  t.not(statSync(file).ino, before, 'the state changed: rewritten')
  t.equal((await loadContentCache(file, STORE, NOW)).data!.state.versions, 1235)
})

t.test('an unchanged cache is known unchanged from its counts; every kind of change is still written', async (t) => {
  const dir = t.testdir()
  const file = contentCacheFile(dir, STORE)
  await saveContentCache(file, STORE, sample())
  const original = readFileSync(file)
  const inode = () => statSync(file).ino // a write renames a new file into place
  const reload = async () => {
    writeFileSync(file, original)
    const loaded = await loadContentCache(file, STORE, NOW)
    return { data: loaded.data!, bytes: loaded.bytes!, versions: loaded.data!.versions as VersionMap, ino: inode() }
  }

  let c = await reload()
  c.versions.use(sha('a'))
  c.versions.use(sha('b'))
  t.equal(await saveContentCache(file, STORE, { ...c.data, versions: new UsedVersions(c.versions) }, c.bytes), 2, 'every version used: both counted')
  t.equal(inode(), c.ino, 'and not rewritten')

  c = await reload()
  c.versions.use(sha('a'))
  t.equal(await saveContentCache(file, STORE, { ...c.data, versions: new UsedVersions(c.versions) }, c.bytes), 1)
  t.not(inode(), c.ino, 'a version not used: rewritten without it')
  t.same([...(await loadContentCache(file, STORE, NOW)).data!.versions.keys()], [sha('a')])
  t.ok((await loadContentCache(file, STORE, NOW)).data!.index.has(sha('b')), 'its content stays in the index')

  c = await reload()
  t.equal(await saveContentCache(file, STORE, c.data, c.bytes), 2, 'all kept (a run cut short)')
  t.equal(inode(), c.ino, 'not rewritten')

  c = await reload()
  c.versions.set(sha('a'), { versionId: 'v-a', retainUntil: days(20) })
  await saveContentCache(file, STORE, c.data, c.bytes)
  t.not(inode(), c.ino, 'a retention extended: rewritten')
  t.same((await loadContentCache(file, STORE, NOW)).data!.versions.get(sha('a'))!.retainUntil, days(20))

  c = await reload()
  c.data.index.add(sha('new'))
  await saveContentCache(file, STORE, c.data, c.bytes)
  t.not(inode(), c.ino, 'content added to the index: rewritten')
  t.ok((await loadContentCache(file, STORE, NOW)).data!.index.has(sha('new')))

  c = await reload()
  await saveContentCache(file, STORE, { ...c.data, state: { ...c.data.state, shared: true } }, c.bytes)
  t.not(inode(), c.ino, 'the index state changed: rewritten')

  writeFileSync(file, original)
  const later = await loadContentCache(file, STORE, days(5))
  const ino = inode()
  t.equal(await saveContentCache(file, STORE, later.data!, later.bytes), 1, 'b is no longer retained five days on')
  t.not(inode(), ino, 'a version dropped as it loaded: rewritten without it')
})
