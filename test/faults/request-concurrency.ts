import t, { type Test } from 'tap'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { faultBed, machine } from '../helpers/fault-bed.js'
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js'
import { runBin } from '../helpers/bin.js'
import { testDir } from '../helpers/files.js'

// How many S3 requests the archive and the restore keep in flight, seen
// by a proxy that holds every PutObject and GetObject answer back for a
// while (a long round trip): by default 32, with --jobs N at most N.

const bed = faultBed(t)
/** The round trip the proxy adds to each PutObject and GetObject. */
const HOLD_MS = 300
const FILES = 60

async function slowProxy(t: Test, seed: number): Promise<FaultProxy> {
  await bed.fresh(seed)
  const proxy = await startFaultProxy({
    target: bed.moto.endpoint, seed, delayMs: HOLD_MS,
    rules: [{ name: 'round trip', operations: ['PutObject', 'GetObject'], faults: ['delay'] }],
  })
  t.teardown(() => proxy.close())
  return proxy
}

/** FILES files of distinct content (so that each is one PutObject and one GetObject). */
function tree(dir: string): string {
  const root = join(dir, 'tree')
  mkdirSync(root, { recursive: true })
  for (let i = 0; i < FILES; i++) writeFileSync(join(root, `f${i}`), randomBytes(2000))
  return root
}

t.test('an archive keeps up to 32 uploads in flight by default, and --jobs N at most N', async (t) => {
  const dir = testDir(t)
  const root = tree(dir)
  const byDefault = await slowProxy(t, 1)
  const first = machine({ dir: join(dir, 'a'), tree: root, endpoint: byDefault.endpoint, env: bed.env })
  const run = await first.archive()
  t.equal(run.status, 0, run.stderr)
  const peak = byDefault.peakInFlight('PutObject')
  // 8, the default before, would stay at 8; the manifest's PutObject comes after the contents'.
  t.ok(peak > 12 && peak <= 32, `PutObjects in flight at most: ${peak}`)

  const limited = await slowProxy(t, 2)
  const second = machine({ dir: join(dir, 'b'), tree: root, endpoint: limited.endpoint, env: bed.env })
  const run2 = await second.archive('--jobs', '3')
  t.equal(run2.status, 0, run2.stderr)
  t.equal(limited.events.filter((e) => e.operation === 'PutObject').length, FILES + 1, 'every content stored, then the manifest')
  t.ok(limited.peakInFlight('PutObject') <= 3, `PutObjects in flight at most: ${limited.peakInFlight('PutObject')}`)
  t.ok(limited.peakInFlight('PutObject') >= 2, 'several at once all the same')
})

t.test('a restore keeps up to 32 downloads in flight by default, and --jobs N at most N', async (t) => {
  const dir = testDir(t)
  const root = tree(dir)
  const proxy = await slowProxy(t, 3)
  const box = machine({ dir, tree: root, endpoint: proxy.endpoint, env: bed.env })
  t.equal((await box.archive()).status, 0)

  const before = proxy.events.length
  const target = join(dir, 'target')
  const run = await box.restore(target, '--no-snapshots')
  t.equal(run.status, 0, run.stderr)
  t.same(readFileSync(join(target, root, 'f7')), readFileSync(join(root, 'f7')))
  t.equal(proxy.events.slice(before).filter((e) => e.operation === 'GetObject').length, FILES + 1, 'the manifest, then every content')
  const peak = proxy.peakInFlight('GetObject')
  t.ok(peak > 12 && peak <= 32, `GetObjects in flight at most: ${peak}`)

  const limited = await slowProxy(t, 4)
  const again = machine({ dir: join(dir, 'c'), tree: root, endpoint: limited.endpoint, env: bed.env })
  t.equal((await again.archive()).status, 0)
  const run2 = await again.restore(join(dir, 'target2'), '--no-snapshots', '--jobs', '3')
  t.equal(run2.status, 0, run2.stderr)
  t.ok(limited.peakInFlight('GetObject') <= 3, `GetObjects in flight at most: ${limited.peakInFlight('GetObject')}`)
})

t.test('archive --jobs out of range is a usage error, before anything runs', async (t) => {
  const dir = testDir(t)
  for (const jobs of ['0', '257', '2.5']) {
    const run = await runBin('s3-sysbackup', ['archive', '--store', join(dir, 'store'), '--state-dir', join(dir, 'state'), '--jobs', jobs])
    t.equal(run.status, 2, `--jobs ${jobs}`)
    t.equal(run.stderr.trim().split('\n').length, 1, run.stderr)
    t.match(run.stderr, `option --jobs: ${jobs} is not a whole number from 1 to 256`)
  }
})
