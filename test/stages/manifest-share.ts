import t from 'tap'
import { ManifestShare } from '../../src/stages/manifest-share.js'
import { readManifestKnowledge } from '../../src/stages/upload/manifest-knowledge.js'
import { LocalStore } from '../../src/store/local-store.js'
import type { Rec } from '../../src/protocol/records.js'

const sha = (c: string) => c.repeat(64)
const file = (c: string, retainUntil: string): Rec => ({
  type: 'file', path: `/${c}`, mode: '0644', uid: 0, gid: 0, size: 1, mtimeNs: '1', ctimeNs: '1', storageId: '1:1', nlink: 1,
  sha256: sha(c), readSize: 1, gzip: false, lockedRead: true, key: `content/${sha(c)}`, versionId: `v-${c}`, retainUntil,
})
const NOW = new Date('2026-11-29T12:00:00Z')

t.test('a reading collects for the stage that wants it, only once whole, and only for that store and host', async (t) => {
  const share = new ManifestShare()
  t.equal(share.collector('file:/s', 'box1'), undefined, 'nobody wants it: no collector, no work')
  const want = share.want('file:/s', 'box1', NOW)
  t.equal(share.collector('file:/other', 'box1'), undefined, 'another store')
  t.equal(share.collector('file:/s', 'box2'), undefined, 'another host')
  const cut = share.collector('file:/s', 'box1')!
  cut.add(file('a', '2026-12-01T00:00:00.000Z'))
  t.equal(want.collected(), undefined, 'a reading that did not finish gives nothing')
  const whole = share.collector('file:/s', 'box1')!
  whole.add(file('a', '2026-12-01T00:00:00.000Z'))
  whole.add(file('a', '2026-12-03T00:00:00.000Z'))
  whole.add(file('b', '2026-11-29T11:00:00.000Z'))
  whole.add({ type: 'dir', path: '/d' })
  whole.finish('manifests/box1/20261128T000000Z.ndjson.gz')
  const got = want.collected()!
  t.equal(got.key, 'manifests/box1/20261128T000000Z.ndjson.gz')
  t.same([...got.versions.versions.keys()], [sha('a')], 'b is not retained beyond now')
  t.same(got.versions.versions.get(sha('a'))!.retainUntil, new Date('2026-12-03T00:00:00.000Z'), 'the latest retention of a content')
  t.equal(got.versions.entries, 2)
  t.equal(share.collector('file:/s', 'box1'), undefined, 'collected once')
  want.withdraw()
  t.equal(share.collector('file:/s', 'box1'), undefined)
})

t.test('the upload stage takes what was collected only for the manifest it finds newest, and then makes no GetObject', async (t) => {
  const store = LocalStore.open(t.testdir({}), { create: true })
  const lock = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + 86_400_000) }
  const header: Rec = { type: 'header', producer: 'sysbackup-manifest', protocol: 1, version: '0.1.0', startedAt: NOW.toISOString(), host: 'box1' }
  const trailer: Rec = { type: 'trailer', producer: 'sysbackup-manifest', ok: true, counts: {}, finishedAt: NOW.toISOString() }
  const line = (rec: Rec) => [header, rec, trailer].map((r) => JSON.stringify(r) + '\n').join('')
  const { gzipSync } = await import('node:zlib')
  await store.putBuffer('manifests/box1/20261128T000000Z.ndjson.gz', gzipSync(line(file('c', '2099-01-01T00:00:00.000Z'))), lock)
  const share = new ManifestShare()
  const want = share.want(store.id, 'box1', NOW)
  const collector = share.collector(store.id, 'box1')!
  collector.add(file('a', '2099-01-01T00:00:00.000Z'))
  collector.finish('manifests/box1/20261128T000000Z.ndjson.gz')
  const taken = await readManifestKnowledge(store, 'box1', NOW, want.collected)
  t.match(taken, { kind: 'read', key: 'manifests/box1/20261128T000000Z.ndjson.gz', entries: 1 })
  t.same(taken.kind === 'read' && [...taken.versions.keys()], [sha('a')], 'the collected versions (the stored manifest names c)')
  t.equal(store.requests.get('GetObject'), 0)

  await store.putBuffer('manifests/box1/20261129T000000Z.ndjson.gz', gzipSync(line(file('d', '2099-01-01T00:00:00.000Z'))), lock)
  const newer = await readManifestKnowledge(store, 'box1', NOW, want.collected)
  t.same(newer.kind === 'read' ? [...newer.versions.keys()] : newer, [sha('d')], 'a newer manifest than the one collected is read itself')
  t.equal(store.requests.get('GetObject'), 1)
})
