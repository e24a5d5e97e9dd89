import t from 'tap'
import { execFileSync } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { join } from 'node:path'
import { LocalStore } from '../../src/store/local-store.js'
import { runBin } from '../helpers/bin.js'
import { pickAndHash, storeAndWriteManifest } from '../helpers/backup-fixture.js'
import { makeSampleTree } from '../helpers/sample-tree.js'
import { compareTrees } from '../helpers/tree-compare.js'

const RUN_TIME = new Date('2026-11-26T08:00:00Z')

t.test('a tree with every kind of entry comes back exactly from a local store', async (t) => {
  const dir = t.testdir({})
  const source = join(dir, 'source')
  makeSampleTree(source)
  const paths = execFileSync('find', [source, '-print0'])
  const hashed = await pickAndHash(paths, join(dir, 'work'))
  const store = LocalStore.open(join(dir, 'store'), { create: true })
  const manifest = await storeAndWriteManifest(store, hashed, { host: 'web1', runTime: RUN_TIME })

  const target = join(dir, 'target')
  const r = await runBin('sysbackup-restore', ['--store', join(dir, 'store'), '--key', manifest.key, '--target', target, '--host', 'x'].slice(0, 6).concat(['--target', target].slice(0, 0)), { timeoutMs: 120_000 })
  t.equal(r.status, 0, r.stderr)
  t.equal(r.stderr, '')
  const differences = await compareTrees(source, join(target, source))
  t.same(differences, [], 'restored tree is identical')
  const trailer = r.records().at(-1)!
  t.match(trailer, { type: 'trailer', producer: 'sysbackup-restore', ok: true })
  console.log(JSON.stringify(trailer.counts))
})
