import t from 'tap'
import { join } from 'node:path'
import type { Finding } from '../../src/audit/findings.js'
import { verifyStore } from '../../src/audit/verify-store.js'
import { LocalStore } from '../../src/store/local-store.js'
import { writeManifest } from '../helpers/backup-fixture.js'

// Content shared by many backups of many hosts is checked once.

const NOW = new Date('2026-11-26T12:00:00Z')
const lock = (until: string) => ({ lockMode: 'GOVERNANCE' as const, retainUntil: new Date(until) })
const file = (path: string, key: string, versionId: string) => ({ type: 'file', path, mode: '0644', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: `1:${path}`, nlink: 1, size: 1, key, versionId })

t.test('one retention read per distinct version across hosts and backups; a finding names the backup that demands most', async (t) => {
  const store = LocalStore.open(join(t.testdir({}), 'store'), { create: true })
  const shared = `content/${'1'.repeat(64)}`
  const own = `content/${'2'.repeat(64)}`
  const a = await store.putBuffer(shared, Buffer.from('x'), lock('2099-01-05T00:00:00Z'))
  const b = await store.putBuffer(own, Buffer.from('y'), lock('2099-06-01T00:00:00Z'))
  for (const [host, day, until] of [['web1', 24, '2099-01-04'], ['web1', 25, '2099-01-06'], ['web2', 25, '2099-01-06']] as const) {
    const runTime = new Date(`2026-11-${day}T08:00:00Z`)
    await writeManifest(store, [file('/etc/a', shared, a.versionId), file('/etc/b', own, b.versionId)], { host, runTime, retainUntil: new Date(`${until}T00:00:00Z`) })
  }
  const findings: Finding[] = []
  const result = await verifyStore(store, { all: true, defaultMode: 'GOVERNANCE', concurrency: 4, now: NOW }, (f) => findings.push(f))
  t.equal(result.manifests.length, 3)
  t.match(result.objects, { versions: 2, locksRead: 2 })
  t.equal(result.requests.GetObjectRetention, 2)
  // The shared version is retained until 01-05: enough for the backup kept until 01-04, not for the two kept until 01-06.
  t.same(findings.map((f) => [f.kind, f.host, f.manifest, f.key, f.path, f.references, f.detail]), [[
    'under-retained', 'web1', 'manifests/web1/20261125T080000Z.ndjson.gz', shared, '/etc/a', 3,
    'retained until 2099-01-05T00:00:00.000Z, before the manifest\'s retain-until 2099-01-06T00:00:00.000Z',
  ]])
})
