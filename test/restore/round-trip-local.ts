import t from 'tap'
import { join } from 'node:path'
import { runBin } from '../helpers/bin.js'
import { runBackup } from '../helpers/backup-fixture.js'
import { makeSampleTree } from '../helpers/sample-tree.js'
import { compareTrees } from '../helpers/tree-compare.js'

const RUN_TIME = new Date('2026-11-26T08:00:00Z')

t.test('a tree with every kind of entry comes back exactly from a local store', async (t) => {
  const dir = t.testdir({})
  const source = join(dir, 'source')
  makeSampleTree(source)
  // The real pipeline, as processes: pick | hash | upload | manifest.
  const manifest = await runBackup(source, join(dir, 'work'), { host: 'web1', runTime: RUN_TIME, storeArgs: ['--store', join(dir, 'store')] })

  const target = join(dir, 'target')
  const r = await runBin('sysbackup-restore', ['--store', join(dir, 'store'), '--key', manifest.key, '--target', target], { timeoutMs: 120_000 })
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stderr, '')
  const differences = await compareTrees(source, join(target, source))
  t.same(differences, [], 'restored tree is identical')
  const trailer = r.records().at(-1)!
  t.match(trailer, { type: 'trailer', producer: 'sysbackup-restore', ok: true, counts: { failed: 0, linked: 2, symlinked: 3, specials: 3, aclsSet: 3, xattrsSet: 5, xattrsDenied: 0 } })
})
