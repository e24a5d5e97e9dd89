/**
 * The cases of `s3-sysbackup verify` that every store must pass, run by
 * test/commands/verify-local.ts and verify-moto.ts on a store made by
 * makeFaultyStore (verify-faults.ts). `run` runs the command in process
 * against that store.
 */
import type { Test } from 'tap'
import type { Rec } from '../../src/protocol/records.js'
import type { FaultyStore } from './verify-faults.js'

export interface VerifyRun {
  status: number
  out: string
  err: string
  records(): Rec[]
}

export type RunVerify = (args: string[]) => Promise<VerifyRun>

/** kind host key — enough to tell findings apart, sorted. */
function brief(records: Rec[]): string[] {
  return records.filter((r) => r.type === 'finding').map((r) => `${String(r.kind)} ${String(r.host)}${r.key !== undefined ? ` ${String(r.key)}` : ''}`).sort()
}

function findings(records: Rec[]): Rec[] {
  return records.filter((r) => r.type === 'finding')
}

function summary(records: Rec[]): Rec {
  const s = records.filter((r) => r.type === 'summary')
  if (s.length !== 1) throw new Error(`expected one summary record, got ${s.length}`)
  return s[0]!
}

export function verifyCases(t: Test, fixture: () => FaultyStore, run: RunVerify): void {
  t.test('a clean host: nothing reported, exit 0, a summary of what was checked', async (t) => {
    const f = fixture()
    const entries = f.manifests.clean.records.filter((r) => ['file', 'dir', 'symlink', 'special'].includes(r.type)).length
    const human = await run(['--host', 'clean'])
    t.equal(human.status, 0, human.err)
    t.equal(human.err, '')
    t.match(human.out, new RegExp(String.raw`^Verified 1 backup\(s\) of 1 host\(s\) in \S+: ${entries} entries; 3 content version\(s\) and 1 snapshot\(s\) referenced, 4 lock\(s\) read\.\nRequests: .*\(estimated \$[0-9.]+\)\.\nNo problems found\.\n$`))
    const json = await run(['--host', 'clean', '--json'])
    t.equal(json.status, 0)
    const records = json.records()
    t.same(findings(records), [])
    const s = summary(records)
    t.match(s, { clean: true, hosts: ['clean'], backups: [f.manifests.clean.key], entries, versions: 4, snapshots: 1, locksRead: 4, findings: 0, byKind: {} })
  })

  t.test('a referenced version deleted with governance bypass: missing, with its key, version and path', async (t) => {
    const f = fixture()
    const r = await run(['--host', 'deleted', '--json'])
    t.equal(r.status, 1)
    const [one, ...rest] = findings(r.records())
    t.same(rest, [])
    t.match(one, { type: 'finding', kind: 'missing', host: 'deleted', manifest: f.manifests.deleted.key, key: f.touched.deleted.key, versionId: f.touched.deleted.versionId, path: f.touched.deleted.path })
    t.match(one!.detail, /the referenced version does not exist \(content\/[0-9a-f]{64} has no version at all\)/)
    t.match(summary(r.records()), { clean: false, findings: 1, byKind: { missing: 1 } })
    const human = await run(['--host', 'deleted'])
    t.equal(human.status, 1)
    t.match(human.out, new RegExp(`^MISSING deleted ${f.touched.deleted.key}@${f.touched.deleted.versionId} \\(${f.manifests.deleted.key}: ${f.touched.deleted.path}\\): `))
    t.match(human.out, /\n1 finding\(s\): 1 missing\.\n$/)
  })

  t.test('retention shortened under the manifest\'s: under-retained, saying both dates', async (t) => {
    const f = fixture()
    const r = await run(['--host', 'shortened', '--json'])
    t.equal(r.status, 1)
    const all = findings(r.records())
    t.equal(all.length, 1, JSON.stringify(all))
    t.match(all[0], { kind: 'under-retained', host: 'shortened', key: f.touched.shortened.key, versionId: f.touched.shortened.versionId, path: f.touched.shortened.path })
    t.equal(all[0]!.detail, `retained until ${f.touched.shortened.until.toISOString()}, before the manifest's retain-until 2099-01-01T00:00:00.000Z`)
  })

  t.test('content replaced by different bytes under the same key: shadowed; --read-data hashes the newer version', async (t) => {
    const f = fixture()
    const r = await run(['--host', 'replaced', '--json'])
    t.equal(r.status, 1)
    const all = findings(r.records())
    t.equal(all.length, 1, JSON.stringify(all))
    t.match(all[0], { kind: 'shadowed', host: 'replaced', key: f.touched.replaced.key, versionId: f.touched.replaced.versionId, path: f.touched.replaced.path })
    t.match(all[0]!.detail, new RegExp(`a newer version ${f.touched.replaced.newVersionId} \\(33 bytes, .*\\) stands in front of the pinned one .*with different bytes`))
    const read = await run(['--host', 'replaced', '--json', '--read-data'])
    t.equal(read.status, 1)
    const [withData, ...more] = findings(read.records())
    t.same(more, [], 'the pinned version itself hashes right')
    t.match(withData, { kind: 'shadowed', key: f.touched.replaced.key })
    t.match(withData!.detail, /its content hashes to sha256 [0-9a-f]{64}, not to its key/)
    t.match(summary(read.records()), { readData: 'all', dataRead: 4 })
  })

  t.test('a truncated manifest: bad-manifest, naming the manifest version and where it was cut', async (t) => {
    const f = fixture()
    const r = await run(['--host', 'truncated', '--json'])
    t.equal(r.status, 1)
    const all = findings(r.records())
    t.equal(all.length, 1, JSON.stringify(all))
    t.match(all[0], { kind: 'bad-manifest', host: 'truncated', manifest: f.touched.truncated.key, key: f.touched.truncated.key, versionId: f.touched.truncated.newVersionId })
    t.match(all[0]!.detail, /cut off/)
  })

  t.test('an incomplete run after a complete one: incomplete, with the reason its trailer gives', async (t) => {
    const f = fixture()
    const r = await run(['--host', 'partial', '--json'])
    t.equal(r.status, 1)
    const all = findings(r.records())
    t.equal(all.length, 1, JSON.stringify(all))
    t.match(all[0], { kind: 'incomplete', host: 'partial', key: f.manifests.partial.key })
    t.match(all[0]!.detail, /did not complete: upstream: sysbackup-hash: 1 error\(s\), after the newest complete one/)
    t.match(summary(r.records()), { backups: [f.partialComplete.key] }, 'the newest complete backup is still verified')
    const byKey = await run(['--key', f.manifests.partial.key, '--json'])
    t.equal(byKey.status, 1)
    t.match(findings(byKey.records()), [{ kind: 'incomplete', key: f.manifests.partial.key, detail: /the run did not complete: upstream/ }])
  })

  t.test('a host with no recent backup: stale under --max-age, silent without it', async (t) => {
    const f = fixture()
    const r = await run(['--host', 'old', '--max-age', '26h', '--json'])
    t.equal(r.status, 1)
    const all = findings(r.records())
    t.equal(all.length, 1, JSON.stringify(all))
    t.match(all[0], { kind: 'stale', host: 'old', manifest: f.manifests.old.key })
    t.match(all[0]!.detail, /is from .*, 3d( \d+h)? old, more than --max-age 1d 2h/)
    t.equal((await run(['--host', 'old', '--max-age', '4d'])).status, 0)
    t.equal((await run(['--host', 'old'])).status, 0)
    const none = await run(['--host', 'nobody-here', '--json'])
    t.equal(none.status, 1)
    t.match(findings(none.records()), [{ kind: 'stale', host: 'nobody-here', detail: 'no complete backup' }])
  })

  t.test('bytes that do not hash to their key: wrong-hash, only with --read-data', async (t) => {
    const f = fixture()
    t.equal((await run(['--host', 'corrupt'])).status, 0, 'listing and locks cannot see it')
    const r = await run(['--host', 'corrupt', '--read-data', '--json'])
    t.equal(r.status, 1)
    t.match(findings(r.records()), [{ kind: 'wrong-hash', host: 'corrupt', key: f.touched.corrupt.key, versionId: f.touched.corrupt.versionId, path: f.touched.corrupt.path,
      detail: /its content hashes to sha256 [0-9a-f]{64}, not to its key/ }])
  })

  t.test('every host at once: each fault reported precisely, once, and nothing else', async (t) => {
    const f = fixture()
    const r = await run(['--max-age', '26h', '--json'])
    t.equal(r.status, 1)
    t.same(brief(r.records()), [
      `bad-manifest truncated ${f.touched.truncated.key}`,
      `incomplete partial ${f.manifests.partial.key}`,
      `missing deleted ${f.touched.deleted.key}`,
      `shadowed replaced ${f.touched.replaced.key}`,
      'stale old',
      `under-retained shortened ${f.touched.shortened.key}`,
    ])
    t.match(summary(r.records()), { hosts: ['clean', 'corrupt', 'deleted', 'old', 'partial', 'replaced', 'shortened', 'truncated'], findings: 6 })
    const withData = await run(['--max-age', '26h', '--json', '--read-data'])
    t.same(brief(withData.records()), [...brief(r.records()), `wrong-hash corrupt ${f.touched.corrupt.key}`].sort())
  })

  t.test('--read-data-subset: N/M parts cover every version once; N% is repeatable with --seed', async (t) => {
    const read = async (args: string[]) => Number(summary((await run(['--host', 'clean', '--json', ...args])).records()).dataRead)
    const parts = [await read(['--read-data-subset', '1/3']), await read(['--read-data-subset', '2/3']), await read(['--read-data-subset', '3/3'])]
    t.equal(parts.reduce((a, b) => a + b, 0), 4, `parts ${parts.join('+')}`)
    t.equal(await read(['--read-data-subset', '100%']), 4)
    const a = await run(['--json', '--read-data-subset', '50%', '--seed', 'x'])
    const b = await run(['--json', '--read-data-subset', '50%', '--seed', 'x'])
    t.equal(summary(a.records()).dataRead, summary(b.records()).dataRead)
    t.same(brief(a.records()), brief(b.records()))
  })

  t.test('--all verifies every complete backup of the chosen hosts', async (t) => {
    const f = fixture()
    const r = await run(['--host', 'partial', '--all', '--json'])
    t.match(summary(r.records()), { backups: [f.partialComplete.key] })
    const two = await run(['--host', 'clean', '--host', 'old', '--all', '--json'])
    t.equal(two.status, 0)
    t.same(summary(two.records()).backups, [f.manifests.clean.key, f.manifests.old.key])
  })
}
