import t from 'tap'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import type { ChildProcess } from 'node:child_process'
import { faultBed, machine, summaryOf } from '../helpers/fault-bed.js'
import { testDir, textOf } from '../helpers/files.js'
import { checkStore } from '../helpers/store-invariants.js'

// Two archive runs at once: on one machine the second gives up at once
// (--wait 0) or waits its turn (--wait 60), and neither corrupts the
// other; two hosts archiving into one bucket at the same time both store
// a complete manifest, sharing content.

const bed = faultBed(t)

function tree(dir: string): string {
  const root = join(dir, 'tree')
  mkdirSync(root, { recursive: true })
  for (let i = 0; i < 80; i++) writeFileSync(join(root, `f${i}`), i % 4 === 0 ? randomBytes(3000) : textOf(800 + i))
  return root
}

/** Resolves with the run's exit status and output. */
function finished(child: ChildProcess): Promise<{ status: number | null, stdout: string, stderr: string }> {
  let stdout = ''
  let stderr = ''
  child.stdout!.on('data', (c: Buffer) => { stdout += c.toString() })
  child.stderr!.on('data', (c: Buffer) => { stderr += c.toString() })
  return new Promise((resolve) => child.on('close', (status) => resolve({ status, stdout, stderr })))
}

/** Resolves once the run holds the lock (it announces the run on stderr right after taking it). */
function running(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    const onData = (c: Buffer) => {
      if (c.toString().includes('s3-sysbackup archive: run ')) {
        child.stderr!.off('data', onData)
        resolve()
      }
    }
    child.stderr!.on('data', onData)
  })
}

t.test('--wait 0: the second run exits 3 at once with a clear message; the first completes', async (t) => {
  const proxy = await bed.fresh(21)
  const dir = testDir(t)
  const m = machine({ dir, tree: tree(dir), endpoint: proxy.endpoint, env: bed.env, snapshotter: 'echo dump\nsleep 2\necho bytes >&$1\n' })
  const first = m.spawnArchive()
  const firstDone = finished(first)
  await running(first)
  const second = await m.archive('--wait', '0')
  t.equal(second.status, 3)
  t.match(second.stderr, new RegExp(`^s3-sysbackup archive: another archive run \\(pid ${first.pid}\\) holds .*archive\\.lock; this run did not start \\(see --wait\\)$`, 'm'))
  t.equal(second.stdout, '', 'no summary: nothing ran')
  const one = await firstDone
  t.equal(one.status, 0, one.stderr)
  const check = await checkStore(bed.inspect())
  t.same(check.problems, [])
  t.same(check.manifests.map((x) => x.complete), [true], 'one complete manifest')
})

t.test('--wait 60: the second run waits its turn, then completes under its own run time', async (t) => {
  const proxy = await bed.fresh(22)
  const dir = testDir(t)
  const m = machine({ dir, tree: tree(dir), endpoint: proxy.endpoint, env: bed.env, snapshotter: 'echo dump\necho bytes >&$1\n' })
  const first = m.spawnArchive()
  const firstDone = finished(first)
  await running(first)
  const second = await m.archive('--wait', '60')
  const one = await firstDone
  t.equal(one.status, 0, `${one.stderr}\n${one.stdout}`)
  t.equal(second.status, 0, `${second.stderr}\n${second.stdout}`)
  const a = summaryOf({ stdout: one.stdout } as never) as { runTime: string, elapsedSeconds: number, manifest: { key: string } }
  const b = summaryOf(second) as { runTime: string, manifest: { key: string }, contentsStored: number }
  t.ok(Date.parse(b.runTime) >= Date.parse(a.runTime) + a.elapsedSeconds * 1000 - 1000,
    `the waiting run's time is when it got the lock, after the first run (${a.runTime} + ${a.elapsedSeconds} s; ${b.runTime})`)
  t.not(a.manifest.key, b.manifest.key, 'two manifests under two keys')
  t.equal(b.contentsStored, 0, 'the second run found everything stored')
  const check = await checkStore(bed.inspect())
  t.same(check.problems, [])
  t.same(check.manifests.map((x) => x.complete), [true, true], 'two complete manifests')
  t.equal(check.duplicated, 0, 'no content stored twice')
})

t.test('two hosts archiving into one bucket at the same time: two complete manifests, content shared', async (t) => {
  const proxy = await bed.fresh(23)
  const dir = testDir(t)
  const shared = tree(dir)
  const a = machine({ dir, tree: shared, endpoint: proxy.endpoint, env: bed.env, host: 'host-a', snapshotter: 'echo dump a\necho a >&$1\n' })
  const b = machine({ dir, tree: shared, endpoint: proxy.endpoint, env: bed.env, host: 'host-b', snapshotter: 'echo dump b\necho b >&$1\n' })
  const [ra, rb] = await Promise.all([a.archive(), b.archive()])
  t.equal(ra.status, 0, ra.stderr)
  t.equal(rb.status, 0, rb.stderr)
  const check = await checkStore(bed.inspect())
  t.same(check.problems, [], 'both manifests reference only existing, locked content; all content hashes right')
  t.same(check.manifests.map((x) => [x.key.split('/')[1], x.complete]).sort(), [['host-a', true], ['host-b', true]])
  t.equal(check.contentKeys, 80, 'one content key per distinct content, shared by both hosts')
  t.comment(`content versions: ${check.contentVersions} for ${check.contentKeys} keys (both hosts may store the same content at the same moment)`)
})
