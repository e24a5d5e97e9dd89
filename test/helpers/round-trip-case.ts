import type { Test } from 'tap'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { testDir } from './files.js'
import { faultBed, FULL, machine, summaryOf } from './fault-bed.js'
import type { FaultKind } from './fault-proxy.js'
import { makeSampleTree } from './sample-tree.js'
import { checkStore } from './store-invariants.js'
import { compareTrees } from './tree-compare.js'

const ALL_FAULTS: FaultKind[] = ['500', '503', '429', 'reset-before', 'reset-after', 'delay', 'truncate']
/** Delays cost a client timeout each: rarer than the others, or a seed takes minutes. */
const RATE = 0.05

/**
 * The round trip of the fault matrix, one subtest per seed: with 5% of S3
 * requests failing at random (every kind of fault the proxy has), a full
 * archive, then a restore, then a comparison: nothing lost, nothing
 * corrupted, and the store sound afterwards. The seeds are spread over a
 * few test files (test/faults/round-trip-*.ts) so each stays within tap's
 * per-file timeout on a busy machine.
 */
export function roundTripSeeds(t: Test, seeds: number[]): void {
  const bed = faultBed(t)
  for (const seed of seeds) {
    t.test(`seed ${seed}: archive and restore through 5% faults lose nothing`, async (t) => {
      const proxy = await bed.fresh(seed)
      proxy.setRules([
        { name: 'slow', probability: RATE / 5, faults: ['delay'] },
        { name: '5%', probability: RATE, faults: ALL_FAULTS.filter((f) => f !== 'delay') },
      ])
      const dir = testDir(t)
      const tree = join(dir, 'tree')
      // Every kind of entry; the large incompressible file is stored as a multipart upload.
      makeSampleTree(tree, FULL ? 20 * 1024 * 1024 : 9 * 1024 * 1024)
      for (let i = 0; i < (FULL ? 200 : 40); i++) writeFileSync(join(tree, 'etc', `file-${i}`), randomBytes(100 + i * 37))
      const m = machine({ dir, tree, endpoint: proxy.endpoint, env: bed.env, snapshotter: 'echo "a dump"\nhead -c 300000 /dev/urandom >&$1\n' })
      t.teardown(() => { if (t.passing()) return; t.comment(proxy.describe()) })

      const run = await m.archive()
      const summary = summaryOf(run)
      t.equal(run.status, 0, `archive completes\n${run.stderr}\n${proxy.describe()}`)
      t.match(summary, { outcome: 'complete', errors: 0, snapshots: 1 })
      const archiveFaults = proxy.faults().length
      t.ok(archiveFaults > 0, `faults were injected during the archive (${archiveFaults})`)

      const target = join(dir, 'target')
      const restored = await m.restore(target)
      t.equal(restored.status, 0, `restore completes\n${restored.stderr}\n${proxy.describe()}`)
      t.same(await compareTrees(tree, join(target, tree)), [], 'the restored tree is identical')
      t.ok(proxy.faults().length > archiveFaults, 'faults were injected during the restore too')

      const check = await checkStore(bed.inspect())
      t.same(check.problems, [], 'every content object hashes to its key; the manifest references only locked versions')
      t.equal(check.manifests.length, 1, 'one manifest')
      t.equal(check.manifests[0]?.complete, true)
      const replayed = proxy.faults().filter((e) => e.fault === 'reset-after' && e.operation === 'PutObject' && e.key.startsWith('content/')).length
      t.comment(`seed ${seed}: ${proxy.events.length} requests, ${proxy.faults().length} faults; ${replayed} content PutObjects answered by a reset after moto stored them; `
        + `${check.contentKeys} content keys, ${check.contentVersions} versions (${check.duplicated} with a second identical version)`)
    })
  }
}
