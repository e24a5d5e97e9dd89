import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { testDir, textOf } from '../helpers/files.js'
import { faultBed, machine, summaryOf } from '../helpers/fault-bed.js'
import type { FaultKind } from '../helpers/fault-proxy.js'
import { DEFAULT_JOBS } from '../../src/stages/upload/upload-stage.js'


// A permanent failure (access denied, the bucket gone), from the first
// request or in the middle of a run: the archive stops promptly, exit 3,
// with a clear message, and stores no manifest.

const bed = faultBed(t)

const CASES: { name: string, fault: FaultKind, code: string, skip: number }[] = [
  { name: 'AccessDenied from the first request', fault: '403', code: 'AccessDenied', skip: 0 },
  { name: 'AccessDenied in the middle of the run', fault: '403', code: 'AccessDenied', skip: 12 },
  { name: 'the bucket gone in the middle of the run', fault: '404-bucket', code: 'NoSuchBucket', skip: 12 },
]

for (const c of CASES) {
  t.test(`${c.name}: exit 3, a clear message, no manifest`, async (t) => {
    const proxy = await bed.fresh(11)
    const dir = testDir(t)
    const tree = join(dir, 'tree')
    mkdirSync(tree)
    for (let i = 0; i < 60; i++) writeFileSync(join(tree, `f${i}`), textOf(1000 + i))
    const m = machine({ dir, tree, endpoint: proxy.endpoint, env: bed.env, snapshotter: 'echo dump\necho bytes >&$1\n' })
    proxy.setRules([{ name: 'permanent', faults: [c.fault], skip: c.skip }])
    const started = Date.now()
    const run = await m.archive()
    const seconds = (Date.now() - started) / 1000
    t.equal(run.status, 3, `exit 3\n${run.stderr}`)
    // Most of a run's time here is five node processes starting on a busy machine.
    t.ok(seconds < 60, `stopped promptly (${seconds.toFixed(1)} s)`)
    t.match(summaryOf(run), { outcome: 'failed', exitStatus: 3 })
    t.match(run.stderr, new RegExp(`^sysbackup-(upload|manifest|snap): .*: ${c.code}: `, 'm'), 'a one-line message names the store error')
    t.notMatch(run.stderr, /^\s+at /m, 'no stack trace')
    const manifests: string[] = []
    for await (const page of bed.inspect().listVersions('manifests/')) manifests.push(...page.map((v) => v.key))
    t.same(manifests, [], 'no manifest stored')
    // No retries of a permanent failure: no request refused twice, and at most one refusal for
    // each request a stage had in flight or still had to make: the uploads in flight when the
    // fault begins (--jobs, DEFAULT_JOBS), and for the snapshot and manifest stages their Object
    // Lock check and their one PUT each (the snapshot stage is its own process, and when it runs
    // relative to the fault varies).
    const refused = proxy.faults()
    // (Each of the two stages checks the bucket's Object Lock once: only requests for a key are compared.)
    const requests = refused.filter((e) => e.key !== '').map((e) => `${e.operation} ${e.key}`)
    t.equal(new Set(requests).size, requests.length, `no request refused twice\n${proxy.describe()}`)
    t.ok(refused.length <= DEFAULT_JOBS + 2 + 2, `no retries of a permanent failure: ${refused.length} requests refused in all\n${proxy.describe()}`)
  })
}
