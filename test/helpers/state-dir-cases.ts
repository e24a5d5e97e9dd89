import type { Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { CreateBucketCommand } from '@aws-sdk/client-s3'
import { contentCacheFile } from '../../src/stages/upload/content-cache.js'
import { BUCKET, faultBed, machine, summaryOf, type Machine } from './fault-bed.js'
import { testDir, textOf } from './files.js'
import { checkStore, manifestMatchesTree } from './store-invariants.js'

/**
 * The state-directory cases of the fault harness: the state directory is an
 * optimisation only: full, damaged, or another bucket's, the backup is
 * still right (it may cost more requests). Spread over test files
 * (test/faults/state-dir-*.ts) to stay within tap's per-file timeout.
 */
export type StateCase = 'full' | 'other-bucket' | 'truncated' | 'corrupted' | 'replaced by garbage' | 'emptied'

export function stateDirCases(t: Test, cases: StateCase[]): void {
  const bed = faultBed(t)

  function makeTree(dir: string): string {
    const tree = join(dir, 'tree')
    mkdirSync(tree, { recursive: true })
    for (let i = 0; i < 60; i++) writeFileSync(join(tree, `f${i}`), i % 3 === 0 ? randomBytes(2000) : textOf(600 + i))
    return tree
  }

  /** Changes some files so a cache that lied would show: new content under the same names. */
  function change(tree: string, round: number): void {
    for (let i = 0; i < 60; i += 7) writeFileSync(join(tree, `f${i}`), `round ${round} of f${i}\n${textOf(300 + i)}`)
  }

  async function runOk(t: Test, m: Machine, bucket = BUCKET): Promise<Record<string, unknown>> {
    const run = await m.archive()
    t.equal(run.status, 0, run.stderr)
    const summary = summaryOf(run)!
    t.match(summary, { outcome: 'complete', errors: 0 })
    t.same(await manifestMatchesTree(bed.inspect(bucket), m.host, m.tree), [], 'the manifest holds every file with its right hash')
    t.same((await checkStore(bed.inspect(bucket))).problems, [], 'the store is sound')
    return summary
  }

  if (cases.includes('full')) t.test('a full state directory (tmpfs): warnings, and a correct backup every time', async (t) => {
    const proxy = await bed.fresh(31)
    const dir = testDir(t)
    const tree = makeTree(dir)
    const m = machine({ dir, tree, endpoint: proxy.endpoint, env: bed.env })
    mkdirSync(m.stateDir, { recursive: true })
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', m.stateDir])
    const unmount = () => { try { execFileSync('umount', ['--lazy', m.stateDir]) } catch { /* already */ } }
    t.teardown(unmount)
    // Leave room for the run lock, not for the caches.
    writeFileSync(join(m.stateDir, 'filler'), Buffer.alloc(60 * 1024))
    const run = await m.archive()
    t.equal(run.status, 0, run.stderr)
    t.match(run.stderr, /sysbackup-hash: warning: .*files-cache: files cache not saved: .*(no space|ENOSPC)/i, 'hash says its cache was not saved')
    t.match(run.stderr, /sysbackup-upload: warning: .*content-versions-.*(no space|ENOSPC)/i, 'upload says its cache was not saved')
    t.same(await manifestMatchesTree(bed.inspect(), m.host, tree), [])
    change(tree, 1)
    await runOk(t, m)
    t.same(readdirSync(m.stateDir).filter((n) => n.endsWith('.tmp')), [], 'no temporary file left behind')
    unmount() // before tap removes the test's directory
  })

  const DAMAGE: [string, (file: string) => void][] = [
    ['truncated', (file) => { const b = readFileSync(file); writeFileSync(file, b.subarray(0, Math.floor(b.length / 2))) }],
    ['corrupted', (file) => { const b = readFileSync(file); const at = Math.floor(b.length / 2); b[at] = b[at]! ^ 0x01; writeFileSync(file, b) }],
    ['replaced by garbage', (file) => writeFileSync(file, randomBytes(5000))],
    ['emptied', (file) => writeFileSync(file, '')],
  ]

  for (const [how, damage] of DAMAGE.filter(([how]) => cases.includes(how as StateCase))) {
    t.test(`caches ${how}: a correct backup, the cache ignored and rebuilt`, async (t) => {
      const proxy = await bed.fresh(32)
      const dir = testDir(t)
      const tree = makeTree(dir)
      const m = machine({ dir, tree, endpoint: proxy.endpoint, env: bed.env })
      await runOk(t, m)
      change(tree, 2)
      const storeId = `s3:${BUCKET}@${proxy.endpoint}`
      damage(join(m.stateDir, 'files-cache'))
      damage(contentCacheFile(m.stateDir, storeId))
      const second = await runOk(t, m)
      t.equal((second.stages as unknown[]).length, 5)
      const third = await runOk(t, m)
      t.match(third, { contentsStored: 0 }, 'the caches rebuilt by the second run serve the third')
    })
  }

  if (cases.includes('other-bucket')) t.test("another bucket's state directory: a correct backup into this bucket", async (t) => {
    const proxy = await bed.fresh(33)
    await bed.client().send(new CreateBucketCommand({ Bucket: 'other', ObjectLockEnabledForBucket: true }))
    const dir = testDir(t)
    const tree = makeTree(dir)
    const a = machine({ dir, tree, endpoint: proxy.endpoint, env: bed.env, host: 'box-a' })
    await runOk(t, a)
    const b = machine({ dir, tree, endpoint: proxy.endpoint, env: bed.env, host: 'box-b', bucket: 'other' })
    // b starts from a's state: its files cache, and a's content versions under b's store's name.
    mkdirSync(b.stateDir, { recursive: true })
    copyFileSync(join(a.stateDir, 'files-cache'), join(b.stateDir, 'files-cache'))
    copyFileSync(contentCacheFile(a.stateDir, `s3:${BUCKET}@${proxy.endpoint}`), contentCacheFile(b.stateDir, `s3:other@${proxy.endpoint}`))
    const run = await b.archive()
    t.equal(run.status, 0, run.stderr)
    t.match(run.stderr, /content versions cache belongs to another store \(s3:backups@/)
    t.match(summaryOf(run), { outcome: 'complete', contentsStored: 60 }, 'every content stored into this bucket')
    t.same(await manifestMatchesTree(bed.inspect('other'), 'box-b', tree), [])
    t.same((await checkStore(bed.inspect('other'))).problems, [], "b's manifest references only b's bucket's versions")
  })
}
