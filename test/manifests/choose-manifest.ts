import t, { type Test } from 'tap'
import { join } from 'node:path'
import { UsageError } from '../../src/cli/errors.js'
import { chooseFrom, findManifest } from '../../src/manifests/choose-manifest.js'
import { describeManifests, listManifests } from '../../src/manifests/list-manifests.js'
import { LocalStore } from '../../src/store/local-store.js'
import { DAY_MS, TEST_RETAIN_UNTIL, writeManifest } from '../helpers/backup-fixture.js'

const dir = (path: string) => ({ type: 'dir', path, mode: '0755', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: '1:1', nlink: 2 })
const file = (path: string, size: number) => ({ type: 'file', path, mode: '0644', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: '1:2', nlink: 1, size })

const T1 = new Date('2026-11-24T08:00:00Z')
const T2 = new Date('2026-11-25T08:00:00Z')
const T3 = new Date('2026-11-26T08:00:00Z')

async function fixture(t: Test) {
  const store = LocalStore.open(join(t.testdir({}), 'store'), { create: true })
  const old = await writeManifest(store, [dir('/'), file('/a', 10)], { host: 'web1', runTime: T1 })
  const newer = await writeManifest(store, [dir('/'), file('/a', 10), file('/b', 5)], { host: 'web1', runTime: T2 })
  const newest = await writeManifest(store, [dir('/')], { host: 'web1', runTime: T3, complete: false })
  const db = await writeManifest(store, [dir('/')], { host: 'db1', runTime: T3 })
  await store.putBuffer('manifests/web1/notes.txt', Buffer.from('x'), { lockMode: 'GOVERNANCE', retainUntil: new Date(Date.now() + DAY_MS) })
  return { store, old, newer, newest, db }
}

t.test('listing: by host and time, complete or not, and what is not a manifest', async (t) => {
  const { store, old, newer, newest, db } = await fixture(t)
  const all = await listManifests(store)
  t.same(all.manifests.map((m) => m.key), [db.key, old.key, newer.key, newest.key])
  t.same(all.manifests.map((m) => m.complete), [true, true, true, false])
  t.same(all.strangers, ['manifests/web1/notes.txt'])
  const web1 = await listManifests(store, 'web1')
  t.same(web1.manifests.map((m) => m.host), ['web1', 'web1', 'web1'])
  t.equal(store.requests.get('ListObjectsV2'), 2, 'one listing each')
})

t.test('details come from one HeadObject each: entries, files, bytes, retention', async (t) => {
  const { store, newer } = await fixture(t)
  const { manifests } = await listManifests(store, 'web1')
  const before = store.requests.get('HeadObject')
  const details = await describeManifests(store, manifests)
  t.equal(store.requests.get('HeadObject') - before, 3)
  t.match(details[1], { key: newer.key, versionId: newer.versionId, entries: 3, files: 2, bytes: 15, lockMode: 'GOVERNANCE', retainUntil: TEST_RETAIN_UNTIL })
})

t.test('choosing: newest complete of this host by default, at or before --at, or exactly --key', async (t) => {
  const { store, old, newer, newest, db } = await fixture(t)
  const { manifests } = await listManifests(store)
  t.equal(chooseFrom(manifests, {}, 'web1')?.key, newer.key, 'the incomplete newest one is passed over')
  t.equal(chooseFrom(manifests, { at: new Date('2026-11-25T07:59:59Z') }, 'web1')?.key, old.key)
  t.equal(chooseFrom(manifests, { at: T2 }, 'web1')?.key, newer.key, 'at, inclusive')
  t.equal(chooseFrom(manifests, { host: 'db1' }, 'web1')?.key, db.key)
  t.equal(chooseFrom(manifests, { key: newest.key }, 'web1')?.key, newest.key, 'an incomplete one by key')
  t.equal(chooseFrom(manifests, { at: new Date('2026-01-01T00:00:00Z') }, 'web1'), null)
  t.equal(chooseFrom(manifests, {}, 'other'), null)

  t.match(await findManifest(store, {}, 'web1'), { key: newer.key, entries: 3 })
  t.match(await findManifest(store, { key: newest.key }, 'nobody'), { key: newest.key, complete: false })
})

t.test('when nothing fits, a usage error says what was looked for and what there is', async (t) => {
  const { store, newest } = await fixture(t)
  const why = async (p: Promise<unknown>) => {
    const err = await p.then(() => null, (e: unknown) => e)
    t.ok(err instanceof UsageError, 'a UsageError')
    return (err as Error).message
  }
  t.match(await why(findManifest(store, { at: new Date('2026-01-01T00:00:00Z') }, 'web1')),
    /^no complete backup of host "web1" at or before 2026-01-01T00:00:00\.000Z in file:.* \(it has 3 backup\(s\) from 2026-11-24T08:00:00\.000Z; see s3-sysbackup list\)$/)
  t.match(await why(findManifest(store, { host: 'mail' }, 'web1')), /^no backup of host "mail" in file:/)
  t.match(await why(findManifest(store, { key: newest.key.replace('web1', 'web2') }, 'web1')), /^no manifest manifests\/web2\/.* in file:/)
  t.match(await why(findManifest(store, { key: 'manifests/web1/latest' }, 'web1')), /^option --key: "manifests\/web1\/latest" is not a manifest key/)
  t.match(await why(findManifest(store, { host: 'bad host' }, 'web1')), /^option --host: "bad host" is not a host name/)
  // Only an incomplete backup in range: the message says to use --key.
  const only = LocalStore.open(join(t.testdir({}), 's2'), { create: true })
  await writeManifest(only, [dir('/')], { host: 'web1', runTime: T3, complete: false })
  t.match(await why(findManifest(only, {}, 'web1')), /1 incomplete one\(s\) in range: choose one with --key/)
})
