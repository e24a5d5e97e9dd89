/**
 * The kill matrix of the fault harness: `s3-sysbackup archive` (the real
 * bin) over a tree of a few hundred files, one of them stored as a
 * multipart upload, and a snapshotter; after a seeded delay, SIGKILL of the
 * wrapper or of one stage (run as its own process with --stage-processes,
 * but for the snapshot stage, which always is one). Then:
 *
 * - the store never holds a manifest that references a missing or unlocked
 *   object, and every content object hashes to its key (checkStore);
 * - a rerun completes (exit 0, a complete manifest), and the store is
 *   still sound afterwards.
 *
 * Killing the wrapper leaves its stages running (as a shell pipeline's
 * would): the orphans finish or fail on their own. The rerun is started
 * at once, while they may still run, since the run lock died with the
 * wrapper: both runs write the same state caches, each by an atomic
 * rename of a complete file whose entries are all true, so whichever
 * lands last is a correct cache (checked: both caches load cleanly after).
 */
import type { Test } from 'tap'
import { readdirSync, readFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import { FilesCache } from '../../src/stages/hash/files-cache.js'
import { contentCacheFile, loadContentCache } from '../../src/stages/upload/content-cache.js'
import { faultBed, machine, summaryOf } from './fault-bed.js'
import { seededRandom } from './fault-proxy.js'
import { testDir, textOf } from './files.js'
import { checkStore } from './store-invariants.js'

/** What is killed, by seed: seed % 6. */
export const KILL_TARGETS = ['s3-sysbackup', 'sysbackup-pick', 'sysbackup-hash', 'sysbackup-upload', 'sysbackup-snap', 'sysbackup-manifest'] as const

/** Pids of the processes whose command line runs `bin/<name>.js`, among `pids`. */
function processesRunning(name: string, pids: number[]): number[] {
  return pids.filter((pid) => {
    try {
      return readFileSync(`/proc/${pid}/cmdline`, 'latin1').split('\0').some((arg) => arg.endsWith(`/bin/${name}.js`))
    } catch {
      return false
    }
  })
}

/** `root` and every live descendant of it. */
function processTree(root: number): number[] {
  const children = new Map<number, number[]>()
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'latin1')
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
      children.set(ppid, [...(children.get(ppid) ?? []), Number(entry)])
    } catch {
      // gone meanwhile
    }
  }
  const out = [root]
  for (let i = 0; i < out.length; i++) out.push(...(children.get(out[i]!) ?? []))
  return out
}

function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1')
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z'
  } catch {
    return false
  }
}

export function killSeeds(t: Test, seeds: number[]): void {
  const bed = faultBed(t)
  let tree = ''
  t.before(() => {
    tree = join(testDir(t), 'tree')
    for (let d = 0; d < 10; d++) {
      mkdirSync(join(tree, `d${d}`), { recursive: true })
      for (let f = 0; f < 25; f++) writeFileSync(join(tree, `d${d}`, `f${f}`), f % 5 === 0 ? randomBytes(2000 + f * 100) : textOf(500 + d * 100 + f))
    }
    // Above the 8 MiB part size: a multipart upload.
    writeFileSync(join(tree, 'big.bin'), randomBytes(9 * 1024 * 1024))
  })

  for (const seed of seeds) {
    const target = KILL_TARGETS[seed % KILL_TARGETS.length]!
    t.test(`seed ${seed}: SIGKILL of ${target} at a random point; the store stays sound, a rerun completes`, async (t) => {
      const proxy = await bed.fresh(seed) // no rules: a plain pass-through, so requests are logged
      const random = seededRandom(seed * 7919)
      const dir = testDir(t)
      const m = machine({
        dir, tree, endpoint: proxy.endpoint, env: bed.env,
        snapshotter: 'echo "slow dump"\nfor i in 1 2 3 4 5; do head -c 200000 /dev/urandom >&$1; sleep 0.2; done\n',
      })
      // pick, hash, upload and manifest run inside the wrapper unless
      // --stage-processes makes them processes: a stage is killed as its
      // own process; the wrapper alternately in either mode.
      const separate = target === 's3-sysbackup' ? Math.floor(seed / KILL_TARGETS.length) % 2 === 1 : target !== 'sysbackup-snap'
      const child = separate ? m.spawnArchive('--stage-processes') : m.spawnArchive()
      let output = ''
      child.stdout!.on('data', (c: Buffer) => { output += c.toString() })
      child.stderr!.on('data', (c: Buffer) => { output += c.toString() })
      const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)))

      // Wait for the target to run, then a seeded delay, then kill it.
      let victim: number | undefined
      let descendants: number[] = []
      for (let i = 0; i < 600 && victim === undefined && child.exitCode === null; i++) {
        descendants = processTree(child.pid!)
        victim = target === 's3-sysbackup' ? child.pid : processesRunning(target, descendants)[0]
        if (victim === undefined) await sleep(50)
      }
      // The kill point: for the processes that talk to the store, after a
      // seeded number of its requests (a run sends about 260: one per
      // content, the multipart upload, the snapshot, the manifest last);
      // for pick and hash, a seeded time into their work.
      const requestTarget: Record<string, number> = {
        's3-sysbackup': Math.floor(random() * 260),
        'sysbackup-upload': Math.floor(random() * 255),
        'sysbackup-manifest': 240 + Math.floor(random() * 25),
      }
      const atRequest = requestTarget[target]
      const delayMs = Math.floor(random() * (target === 'sysbackup-pick' ? 300 : target === 'sysbackup-snap' ? 1500 : 3000))
      if (atRequest === undefined) await sleep(delayMs)
      else while (proxy.events.length < atRequest && child.exitCode === null) await sleep(10)
      descendants = processTree(child.pid!)
      let killed = false
      if (victim !== undefined && alive(victim)) {
        process.kill(victim, 'SIGKILL')
        killed = true
      }
      t.comment(`seed ${seed}${separate ? ' (--stage-processes)' : ''}: ${target} ${killed ? `killed ${atRequest === undefined ? `${delayMs} ms after it started` : `at request ${atRequest}`}` : 'had already ended'}; ${proxy.events.length} requests by then`)
      const status = await exited
      if (killed && target !== 's3-sysbackup') t.not(status, 0, `a run with a killed stage does not exit 0 (${status})`)
      if (killed && target !== 's3-sysbackup') t.notMatch(output, /"outcome":"complete"/, 'and does not say it is complete')

      // The rerun starts at once: orphans of a killed wrapper may still run.
      const rerun = await m.archive()
      const orphans = descendants.filter((pid) => pid !== child.pid)
      for (let i = 0; i < 1200 && orphans.some(alive); i++) await sleep(100)
      t.notOk(orphans.some(alive), 'every stage of the killed run has ended')
      t.equal(rerun.status, 0, `the rerun completes\n${rerun.stderr}`)
      const summary = summaryOf(rerun) as { entries: number } | undefined
      t.match(summary, { outcome: 'complete', errors: 0, files: 251 })

      const check = await checkStore(bed.inspect())
      t.same(check.problems, [], 'no manifest references a missing or unlocked object; every content object hashes to its key')
      t.ok(check.manifests.some((x) => x.complete && x.entries === summary?.entries), 'a complete manifest of the whole tree')
      t.comment(`seed ${seed}: manifests ${check.manifests.map((x) => `${x.key.split('/').pop()} (${x.entries})`).join(', ')}; ${check.contentKeys} content keys, ${check.contentVersions} versions`)

      const files = await FilesCache.load(join(m.stateDir, 'files-cache'))
      t.equal(files.problem, undefined, 'the files cache loads cleanly')
      const content = await loadContentCache(contentCacheFile(m.stateDir, `s3:backups@${proxy.endpoint}`), `s3:backups@${proxy.endpoint}`, new Date())
      t.equal(content.problem, undefined, 'the content versions cache loads cleanly')
      t.ok(content.data !== null, 'and exists')
      t.same(readdirSync(m.stateDir).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left in the state directory')
    })
  }
}
