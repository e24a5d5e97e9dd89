import t from 'tap'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { listReferencedVersions } from '../../src/audit/version-listing.js'
import { LocalStore } from '../../src/store/local-store.js'

// The choice between sweeping content/ and listing keys one by one, on a
// local store with 10 versions per page (so that 200 objects make 20 pages).

const lock = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date('2099-01-01T00:00:00Z') }
const keyOf = (i: number) => `content/${createHash('sha256').update(String(i)).digest('hex')}`

async function fixture(dir: string) {
  const store = LocalStore.open(join(dir, 'store'), { create: true, pageSize: 10 })
  for (let i = 0; i < 200; i++) await store.putBuffer(keyOf(i), Buffer.from(String(i)), lock)
  const second = await store.putBuffer(keyOf(7), Buffer.from('7 again'), lock)
  return { store, second }
}

t.test('most of the store referenced: one sweep, no key listed alone', async (t) => {
  const { store } = await fixture(t.testdir({}))
  const keys = Array.from({ length: 150 }, (_, i) => keyOf(i)).sort()
  const stats = { sweepPages: 0, keyListings: 0 }
  const before = store.requests.get('ListObjectVersions')
  const found = await listReferencedVersions(store, 'content/', keys, stats, 4)
  t.equal(found.size, 150)
  t.equal(found.get(keyOf(7))!.length, 2, 'both versions of a key, newest first')
  t.ok(found.get(keyOf(7))![0]!.versionId > found.get(keyOf(7))![1]!.versionId)
  t.equal(stats.keyListings, 0)
  t.ok(stats.sweepPages >= 15 && stats.sweepPages <= 21, `${stats.sweepPages} pages`)
  t.equal(store.requests.get('ListObjectVersions') - before, stats.sweepPages)
})

t.test('a few keys of a large store: the sweep stops early and lists them one by one', async (t) => {
  const { store, second } = await fixture(t.testdir({}))
  const keys = [keyOf(7), keyOf(42), keyOf(199), `content/${'f'.repeat(64)}`].sort()
  const stats = { sweepPages: 0, keyListings: 0 }
  const before = store.requests.get('ListObjectVersions')
  const found = await listReferencedVersions(store, 'content/', keys, stats, 4)
  t.same([...found.keys()].sort(), [keyOf(7), keyOf(42), keyOf(199)].sort(), 'a key that does not exist is absent')
  t.equal(found.get(keyOf(7))![0]!.versionId, second.versionId)
  t.equal(found.get(keyOf(7))!.length, 2)
  t.ok(stats.sweepPages <= 2, `${stats.sweepPages} sweep pages`)
  t.ok(stats.keyListings <= 4 && stats.keyListings >= 3, `${stats.keyListings} key listings`)
  t.ok(store.requests.get('ListObjectVersions') - before <= 6, 'far fewer than the 21 pages of a whole sweep')
})

t.test('snapshot prefixes are always swept; nothing referenced costs nothing', async (t) => {
  const { store } = await fixture(t.testdir({}))
  await store.putBuffer('snapshots/h/20261126T080000Z-db', Buffer.from('dump'), lock)
  const stats = { sweepPages: 0, keyListings: 0 }
  const found = await listReferencedVersions(store, 'snapshots/h/', ['snapshots/h/20261126T080000Z-db'], stats, 4)
  t.equal(found.get('snapshots/h/20261126T080000Z-db')!.length, 1)
  t.same(stats, { sweepPages: 1, keyListings: 0 })
  const none = await listReferencedVersions(store, 'content/', [], stats, 4)
  t.equal(none.size, 0)
  t.same(stats, { sweepPages: 1, keyListings: 0 })
})
