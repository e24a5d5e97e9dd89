/**
 * ContentKnowledge against a real local store: which source answers, and
 * what each answer costs in requests (LocalStore counts what S3 would be
 * sent). The sweep's page arithmetic is checked with small pages.
 */
import t from 'tap'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import type { KnownVersion } from '../../../src/stages/upload/content-cache.js'
import { ABSENCE_TRUST_MS, ContentKnowledge } from '../../../src/stages/upload/content-knowledge.js'
import { ContentSweep } from '../../../src/stages/upload/content-sweep.js'
import { PrefixSet } from '../../../src/stages/upload/prefix-set.js'
import { LocalStore } from '../../../src/store/local-store.js'

const sha = (s: string) => createHash('sha256').update(s).digest('hex')
const DAY = 86_400_000
const lock = () => ({ lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + 30 * DAY) })

async function storeWith(dir: string, contents: string[], pageSize = 1000): Promise<LocalStore> {
  const store = LocalStore.open(join(dir, 'store'), { create: true, pageSize })
  for (const c of contents) await store.putBuffer(`content/${sha(c)}`, Buffer.from(c), lock())
  return LocalStore.open(join(dir, 'store'), { pageSize })
}

function knowledge(store: LocalStore, start: ConstructorParameters<typeof ContentKnowledge>[0] = null, pageSize = 1000, now = () => new Date()) {
  const logs: string[] = []
  const k = new ContentKnowledge(start, { store, clock: now, jobs: 4, pageSize, signal: new AbortController().signal, log: (m) => logs.push(m) })
  return { k, logs }
}

/** Looks up every hash, then tells the knowledge the input ended; the answers in order. */
async function lookupAll(k: ContentKnowledge, hashes: string[]): Promise<(KnownVersion | null)[]> {
  const answers = hashes.map((h) => k.lookup(h))
  k.setInputStalled(true)
  return Promise.all(answers)
}

t.test('few unknown hashes: a HEAD each, since that costs less than a listing page', async (t) => {
  const store = await storeWith(t.testdir(), ['a', 'b'])
  const { k } = knowledge(store)
  const answers = await lookupAll(k, [sha('a'), sha('b'), sha('c')])
  t.match(answers, [{ versionId: /./, retainUntil: Date }, { versionId: /./ }, null])
  t.same(store.requests.snapshot(), { HeadObject: 3 })
  t.same(k.counts, { heads: 3, swept: 0 })
  t.same(await k.lookup(sha('a')), answers[0], 'known now: no request')
  t.equal(store.requests.total, 3)
})

t.test('13 unknown hashes cost more in HEADs than one page: one listing answers them, HEADs only for those found', async (t) => {
  const store = await storeWith(t.testdir(), ['x1', 'x2'])
  const { k } = knowledge(store)
  const hashes = ['x1', 'x2', ...Array.from({ length: 11 }, (_, i) => `new${i}`)].map(sha)
  const answers = hashes.map((h) => k.lookup(h))
  // Not stalled: the 13th hash alone tips the balance (13 × $0.0004 > $0.005).
  const settled = await Promise.all(answers)
  t.equal(settled.filter((a) => a !== null).length, 2)
  t.same(store.requests.snapshot(), { ListObjectVersions: 1, HeadObject: 2 })
  t.same(k.counts, { heads: 2, swept: 1 })
  t.equal(await k.lookup(sha('later-unknown')), null, 'the finished listing answers later hashes too')
  t.equal(store.requests.total, 3)
  const saved = k.toCacheData(false)
  t.match(saved.state, { complete: true, shared: true, versions: 2 }, 'complete; content it had not known means another writer')
})

t.test('12 unknown hashes when the input ends: HEADs, not a listing', async (t) => {
  const store = await storeWith(t.testdir(), [])
  const { k } = knowledge(store)
  await lookupAll(k, Array.from({ length: 12 }, (_, i) => sha(`n${i}`)))
  t.same(store.requests.snapshot(), { HeadObject: 12 })
})

t.test('a sweep larger than expected stops when the rest would cost more than HEADs; pages = ceil(versions/page) when finished', async (t) => {
  const contents = Array.from({ length: 40 }, (_, i) => `stored ${i}`)
  const dir = t.testdir()
  const store = await storeWith(dir, contents, 4)
  const { k } = knowledge(store, null, 4)
  // 14 unknown hashes: enough for one page (guessed), not for the ten a full sweep takes.
  const answers = Array.from({ length: 14 }, (_, i) => k.lookup(sha(`absent ${i}`)))
  k.setInputStalled(true)
  t.same(await Promise.all(answers), Array(14).fill(null))
  // The first page covers about a tenth of the key space: nine more pages would cost 112 HEADs.
  t.equal(store.requests.get('ListObjectVersions'), 1, 'stopped after one page')
  t.equal(k.counts.swept, 1)
  const heads = store.requests.get('HeadObject')
  t.ok(heads >= 10 && heads <= 14, `the rest by HEAD (${heads}); hashes below the first page's last key were answered by it`)

  const { k: eager } = knowledge(LocalStore.open(join(dir, 'store'), { pageSize: 4 }), null, 4)
  const many = Array.from({ length: 200 }, (_, i) => eager.lookup(sha(`absent ${i}`)))
  eager.setInputStalled(true)
  await Promise.all(many)
  t.equal(eager.counts.swept, 10, '40 versions, 4 a page: 10 pages')
  t.ok(eager.counts.heads <= 2, `at most a HEAD or two past the last listed key (${eager.counts.heads})`)
})

t.test('the sweep\'s estimate of the pages left, from the key space covered', async (t) => {
  const contents = Array.from({ length: 100 }, (_, i) => `c${i}`)
  const store = await storeWith(t.testdir(), contents, 10)
  const sweep = new ContentSweep(store, 10, () => new Date())
  t.equal(sweep.remainingPages(7), 7, 'before the first page: the guess')
  await sweep.nextPage()
  const estimate = sweep.remainingPages(1)
  t.ok(estimate >= 4 && estimate <= 20, `after one page of ten: ${estimate.toFixed(1)} left`)
  let pages = 1
  while (await sweep.nextPage() !== null) pages++
  t.equal(sweep.pages, 10)
  t.equal(pages, 10, 'the short last page ended the listing without another request')
  t.equal(sweep.versions, 100)
  t.equal(store.requests.get('ListObjectVersions'), 10)
  t.ok(sweep.covers(sha('anything')))
})

t.test('a complete index of a store nobody else writes: absence without a request, for a week', async (t) => {
  const store = await storeWith(t.testdir(), ['mine'])
  const sweptAt = new Date()
  const start = () => ({
    versions: new Map<string, KnownVersion>(),
    index: PrefixSet.of([]),
    state: { complete: true, sweptAt, shared: false, versions: 1 },
  })
  const fresh = knowledge(store, start()).k
  t.equal(await fresh.lookup(sha('new content')), null)
  t.equal(store.requests.total, 0)

  const old = knowledge(store, start(), 1000, () => new Date(sweptAt.getTime() + ABSENCE_TRUST_MS + 1)).k
  t.equal(await lookupAll(old, [sha('new content')]).then((a) => a[0]), null)
  t.same(store.requests.snapshot(), { HeadObject: 1 }, 'a week later, asked')

  const shared = knowledge(store, { ...start(), state: { ...start().state, shared: true } }).k
  await lookupAll(shared, [sha('other')])
  t.equal(store.requests.get('HeadObject'), 2, 'shared with another writer: always asked')
})

t.test('content found that a complete index did not have: another writer, and the state says so', async (t) => {
  const store = await storeWith(t.testdir(), ['theirs'])
  const old = new Date(Date.now() - ABSENCE_TRUST_MS - DAY)
  const { k } = knowledge(store, { versions: new Map(), index: PrefixSet.of([]), state: { complete: true, sweptAt: old, shared: false, versions: 0 } })
  const [found] = await lookupAll(k, [sha('theirs')])
  t.not(found, null)
  t.match((k.toCacheData(false)).state, { shared: true })
})

t.test('known versions answer at once; a failure rejects everything waiting', async (t) => {
  const store = await storeWith(t.testdir(), [])
  const known = { versionId: 'v1', retainUntil: new Date(Date.now() + DAY) }
  const { k } = knowledge(store, { versions: new Map([[sha('k'), known]]), index: PrefixSet.of([]), state: { complete: false, sweptAt: null, shared: false, versions: 0 } })
  t.equal(await k.lookup(sha('k')), known)
  t.same(k.peek(sha('k')), known)
  const waiting = k.lookup(sha('unknown'))
  k.fail(new Error('stopping'))
  await t.rejects(waiting, { message: 'stopping' })
  await t.rejects(k.lookup(sha('another')), { message: 'stopping' })
  t.equal(store.requests.total, 0)
})

t.test('what is saved: the versions used (all known ones after a cut-off run), and the index', async (t) => {
  const store = await storeWith(t.testdir(), ['u'])
  const unused = { versionId: 'old', retainUntil: new Date(Date.now() + DAY) }
  const { k } = knowledge(store, { versions: new Map([[sha('unused'), unused]]), index: PrefixSet.of([]), state: { complete: false, sweptAt: null, shared: false, versions: 0 } })
  await lookupAll(k, [sha('u')])
  k.learn(sha('stored now'), { versionId: 'v9', retainUntil: new Date(Date.now() + 2 * DAY) }, true)
  const complete = k.toCacheData(false)
  t.same([...complete.versions.keys()].sort(), [sha('u'), sha('stored now')].sort())
  t.ok(complete.index.has(sha('unused')) && complete.index.has(sha('stored now')))
  t.equal(complete.state.versions, 1)
  const cut = k.toCacheData(true)
  t.equal(cut.versions.size, 3)
})
