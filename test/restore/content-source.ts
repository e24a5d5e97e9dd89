import t from 'tap'
import { createHash } from 'node:crypto'
import { closeSync, openSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runStage } from '../../src/cli/stage.js'
import { ContentSource, EMPTY_SHA256 } from '../../src/restore/content-source.js'
import { makeRestoreStage } from '../../src/restore/restore-stage.js'
import { TargetDirs } from '../../src/restore/target-dirs.js'
import { LocalStore } from '../../src/store/local-store.js'
import { DAY_MS, runBackup } from '../helpers/backup-fixture.js'
import { testIO } from '../helpers/io.js'
import { compareTrees } from '../helpers/tree-compare.js'

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

t.test('empty files cost no request; identical files are copied from the first one restored', async (t) => {
  const files: Record<string, string> = {}
  for (let i = 0; i < 40; i++) files[`same${i}`] = 'the same licence text\n'.repeat(50)
  for (let i = 0; i < 10; i++) files[`empty${i}`] = ''
  files.other = 'something else\n'
  const base = t.testdir({ src: files })
  const backup = await runBackup(join(base, 'src'), join(base, 'work'), { host: 'h', runTime: new Date('2026-11-26T08:00:00Z'), storeArgs: ['--store', join(base, 'store')] })
  const io = testIO()
  t.equal(await runStage(makeRestoreStage({ confirm: null }), ['--store', join(base, 'store'), '--key', backup.key, '--target', join(base, 'target'), '--jobs', '1'], io), 0, io.err())
  t.same(await compareTrees(join(base, 'src'), join(base, 'target', base, 'src')), [])
  t.match(io.records().at(-1)!.counts, { written: 51, copiedLocally: 39, 'req.GetObject': 3 }, 'two contents downloaded, and the manifest')
})

t.test('a file changed since it was restored is not copied: the content comes from the store', async (t) => {
  const dir = t.testdir({ target: { first: 'original content\n' } })
  const store = LocalStore.open(join(dir, 'store'), { create: true })
  const content = Buffer.from('original content\n')
  const { versionId } = await store.putBuffer(`content/${sha(content)}`, content, { lockMode: 'GOVERNANCE', retainUntil: new Date(Date.now() + DAY_MS) })
  const target = await TargetDirs.open(join(dir, 'target'))
  const source = new ContentSource(store, target)
  source.remember(sha(content), [Buffer.from('first')])
  writeFileSync(join(dir, 'target/first'), 'changed by someone, and long enough\n')
  const out = openSync(join(dir, 'out'), 'w')
  const got = await source.fill({ key: `content/${sha(content)}`, versionId, sha256: sha(content) })(out)
  closeSync(out)
  t.match(got, { from: 'store', bytes: content.length })
  t.same(readFileSync(join(dir, 'out')), content, 'exactly the content, nothing of the failed copy left')
  t.equal(store.requests.get('GetObject'), 1)
  const empty = openSync(join(dir, 'empty'), 'w')
  t.match(await source.fill({ key: `content/${EMPTY_SHA256}`, sha256: EMPTY_SHA256 })(empty), { from: 'empty', bytes: 0, transferred: 0 })
  closeSync(empty)
  t.equal(store.requests.get('GetObject'), 1, 'none for empty content')
  target.close()
})
