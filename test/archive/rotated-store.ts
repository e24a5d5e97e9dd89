/**
 * Two backup disks mounted in turn at one path (or a local store deleted
 * and made again there): each is its own store, and what the state
 * directory knows of one must never stand for the other. Through the real
 * archive and restore.
 */
import t from 'tap'
import { existsSync, mkdirSync, readdirSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { local } from '../helpers/local-machine.js'
import { summaryOf } from '../helpers/fault-bed.js'
import { textOf } from '../helpers/files.js'
import { checkStore } from '../helpers/store-invariants.js'
import { compareTrees } from '../helpers/tree-compare.js'
import { LocalStore } from '../../src/store/local-store.js'

t.test('a store replaced at the same path gets every content stored again, and each disk keeps its own cache', async (t) => {
  const m = local(t, (tree) => {
    for (let i = 0; i < 6; i++) writeFileSync(join(tree, `text${i}.conf`), textOf(3000 + i))
    writeFileSync(join(tree, 'random.bin'), randomBytes(50_000))
  })
  const first = await m.archive()
  t.equal(first.status, 0, first.stderr)
  t.match(summaryOf(first), { outcome: 'complete', contentsStored: 7 })

  // Disk A comes out; disk B, empty, is mounted where it was: a new store, on purpose.
  renameSync(m.store, `${m.store}-disk-a`)
  const onB = await m.archive('--new-store')
  t.equal(onB.status, 0, onB.stderr)
  t.match(summaryOf(onB), { outcome: 'complete', contentsStored: 7 }, 'every content stored into the new store, none taken as already there')
  const check = await checkStore(LocalStore.open(m.store))
  t.same(check.problems, [], 'every manifest entry\'s content is in the store')
  const target = join(m.tree, '..', 'restored')
  const restored = await m.restore(target)
  t.equal(restored.status, 0, restored.stderr)
  t.same(await compareTrees(m.tree, join(target, m.tree)), [], 'the new store restores the tree exactly')

  // Disk A back in place: its own cache is still there, so nothing is stored again.
  renameSync(m.store, `${m.store}-disk-b`)
  renameSync(`${m.store}-disk-a`, m.store)
  const backOnA = await m.archive()
  t.equal(backOnA.status, 0, backOnA.stderr)
  t.match(summaryOf(backOnA), { outcome: 'complete', contentsStored: 0, requests: { PutObject: 1 } }, 'a warm run: the manifest alone')
})

t.test('a store gone from its path (a disk not mounted) stops the run: exit 3, one line, nothing written', async (t) => {
  const m = local(t, (tree) => {
    writeFileSync(join(tree, 'a.conf'), textOf(2000))
  })
  const first = await m.archive()
  t.equal(first.status, 0, first.stderr)

  // Unmounted, the disk leaves its mount point empty, or the store's directory missing.
  renameSync(m.store, `${m.store}-elsewhere`)
  mkdirSync(m.store)
  for (const how of ['empty', 'missing'] as const) {
    if (how === 'missing') renameSync(m.store, `${m.store}-empty`)
    const run = await m.archive()
    t.equal(run.status, 3, `${how}: exit status 3`)
    const lines = run.stderr.trim().split('\n')
    t.match(lines.at(-1), new RegExp(`^s3-sysbackup archive: file:${m.store}: the store this machine backed up into here \\(made [^)]+\\) is not there: .* is missing or empty\\. Is its disk mounted\\? Nothing was written; to start a new store at this path, run with --new-store$`), `${how}: one line that says why and what to do`)
    t.notMatch(run.stderr, /\n\s+at /, `${how}: no stack trace`)
    if (how === 'empty') t.same(readdirSync(m.store), [], 'the mount point is left empty')
    else t.notOk(existsSync(m.store), 'no directory made')
  }

  // The disk mounted again: the run goes on as before.
  renameSync(`${m.store}-elsewhere`, m.store)
  const again = await m.archive()
  t.equal(again.status, 0, again.stderr)
  t.match(summaryOf(again), { outcome: 'complete', contentsStored: 0 })
})
