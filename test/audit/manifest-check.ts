import t from 'tap'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import type { Finding } from '../../src/audit/findings.js'
import { checkManifest, lockProblem } from '../../src/audit/manifest-check.js'
import { ReferenceSet } from '../../src/audit/reference-set.js'
import { describeManifest } from '../../src/manifests/list-manifests.js'
import { parseManifestKey } from '../../src/manifests/manifest-key.js'
import { LocalStore } from '../../src/store/local-store.js'

const NOW = new Date('2026-11-26T12:00:00Z')
const R = new Date('2099-01-01T00:00:00Z')

t.test('lockProblem: each way a lock can fall short, and what is enough', async (t) => {
  t.equal(lockProblem({ mode: 'GOVERNANCE', retainUntil: R }, R, 'GOVERNANCE', NOW), null)
  t.equal(lockProblem({ mode: 'COMPLIANCE', retainUntil: R }, R, 'GOVERNANCE', NOW), null, 'COMPLIANCE is stricter than asked')
  t.match(lockProblem({}, R, 'GOVERNANCE', NOW), { kind: 'unlocked', detail: 'no Object Lock retention; it must be retained until 2099-01-01T00:00:00.000Z' })
  t.match(lockProblem({ mode: 'GOVERNANCE', retainUntil: new Date('2026-11-01T00:00:00Z') }, R, 'GOVERNANCE', NOW),
    { kind: 'unlocked', detail: 'its retention lapsed at 2026-11-01T00:00:00.000Z; it must be retained until 2099-01-01T00:00:00.000Z' })
  t.match(lockProblem({ mode: 'GOVERNANCE', retainUntil: new Date('2030-01-01T00:00:00Z') }, R, 'GOVERNANCE', NOW), { kind: 'under-retained' })
  t.match(lockProblem({ mode: 'GOVERNANCE', retainUntil: R }, R, 'COMPLIANCE', NOW), { kind: 'wrong-mode', detail: 'locked in GOVERNANCE mode; the run asked for COMPLIANCE' })
  t.equal(lockProblem({ mode: 'GOVERNANCE', retainUntil: new Date('2026-11-01T00:00:00Z') }, new Date('2026-10-01T00:00:00Z'), 'GOVERNANCE', NOW), null,
    'a backup whose own retention is over demands nothing any more')
})

const header = { type: 'header', producer: 'sysbackup-manifest', protocol: 1, version: '0.1.0', startedAt: '2026-11-26T08:00:00.000Z', host: 'h', retainUntil: R.toISOString(), lockMode: 'COMPLIANCE' }
const file = (path: string, n: number) => ({ type: 'file', path, mode: '0644', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: `1:${n}`, nlink: 1, size: 1,
  sha256: 'a'.repeat(63) + String(n), key: `content/${'a'.repeat(63)}${n}`, versionId: `v${n}` })

/** Stores `lines` (text) as a manifest and checks it; returns its findings and what it referenced. */
async function check(dir: string, lines: string[], key = 'manifests/h/20261126T080000Z.ndjson.gz') {
  const store = LocalStore.open(join(dir, 'store'), { create: true })
  await store.putBuffer(key, gzipSync(lines.join('')), { lockMode: 'GOVERNANCE', retainUntil: new Date('2098-01-01T00:00:00Z') })
  const details = (await describeManifest(store, { ...parseManifestKey(key)!, size: 0, lastModified: NOW }))!
  const findings: Finding[] = []
  const refs = new ReferenceSet()
  const summary = await checkManifest(store, details, refs, (f) => findings.push(f), 'GOVERNANCE', NOW)
  return { findings, refs, summary }
}

function sealed(records: object[], trailer: Record<string, unknown> = {}): string[] {
  const body = records.map((r) => JSON.stringify(r) + '\n')
  const digest = `sha256:${createHash('sha256').update(body.join('')).digest('hex')}`
  const entries = records.filter((r) => (r as { type: string }).type === 'file').length
  return [...body, JSON.stringify({ type: 'trailer', producer: 'sysbackup-manifest', ok: true, counts: { entries }, digest, finishedAt: '2026-11-26T08:01:00.000Z', ...trailer }) + '\n']
}

t.test('a sound manifest: references gathered with the run\'s retain-until and mode; its own lock checked against them', async (t) => {
  const { findings, refs, summary } = await check(t.testdir({}), sealed([header, file('/a', 1), file('/b', 2), file('/c', 1)]))
  t.same(findings.map((f) => [f.kind, f.detail]), [['under-retained', 'the manifest itself: retained until 2098-01-01T00:00:00.000Z, before the manifest\'s retain-until 2099-01-01T00:00:00.000Z']])
  t.equal(refs.size, 2, 'a hard link or repeated content is one reference')
  const first = refs.versionsOf(`content/${'a'.repeat(63)}1`)!.get('v1')!
  t.match(first, { requiredMode: 'COMPLIANCE', references: 2, referrer: { path: '/a' } })
  t.same(first.requiredUntil, R)
  t.match(summary, { entries: 3, files: 3, sound: true })
})

t.test('damage, each reported as bad-manifest with where', async (t) => {
  const altered = sealed([header, file('/a', 1)])
  altered[1] = JSON.stringify(file('/x', 1)) + '\n'
  t.match((await check(t.testdir({}), altered)).findings.map((f) => f.detail), [/the trailer's digest does not match/])
  const noDigest = sealed([header, file('/a', 1)], { digest: undefined })
  t.match((await check(t.testdir({}), noDigest)).findings.map((f) => f.detail), [/carries no digest/])
  const miscounted = sealed([header, file('/a', 1)], { counts: { entries: 5 } })
  t.match((await check(t.testdir({}), miscounted)).findings.map((f) => f.detail), [/counts 5 entries but 1 were read/])
  const garbage = sealed([header, file('/a', 1)])
  garbage.splice(2, 0, 'not json\n')
  const g = await check(t.testdir({}), garbage)
  t.match(g.findings.map((f) => f.detail), [/^line 3: invalid JSON/, /digest does not match/])
  t.equal(g.summary.sound, false)
  const noKey = sealed([header, { ...file('/a', 1), key: undefined, versionId: undefined }])
  t.match((await check(t.testdir({}), noKey)).findings, [{ kind: 'missing', path: '/a', detail: 'no "content/…" key recorded: the backup has no stored content for it' }])
  const failed = sealed([header, file('/a', 1)], { ok: false, reason: 'upstream: sysbackup-hash: 1 error(s)' })
  t.match((await check(t.testdir({}), failed)).findings, [{ kind: 'incomplete', detail: 'the run did not complete: upstream: sysbackup-hash: 1 error(s)' }])
})
