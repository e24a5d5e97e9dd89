import t from 'tap'
import { spawn, execFileSync } from 'node:child_process'
import { mkdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { runBin } from '../helpers/bin.js'
import { local } from '../helpers/local-machine.js'
import { summaryOf } from '../helpers/fault-bed.js'
import { testDir, textOf } from '../helpers/files.js'
import { checkStore } from '../helpers/store-invariants.js'
import { compareTrees } from '../helpers/tree-compare.js'
import { LocalStore } from '../../src/store/local-store.js'

// Trees that fight back, through the real archive (into a local directory
// store, to keep moto out of the timings) and restore.

t.test('a file replaced by a directory between pick and hash', async (t) => {
  const dir = testDir(t)
  const file = join(dir, 'victim')
  writeFileSync(file, 'a file for now\n')
  writeFileSync(join(dir, 'bystander'), 'stays\n')
  const conf = join(dir, 'conf.d')
  mkdirSync(conf)
  writeFileSync(join(conf, 'conf'), '')
  const env = { S3_SYSBACKUP_CONFIG: conf }
  const picked = await runBin('sysbackup-pick', ['--stdin'], { stdin: `${file}\n${join(dir, 'bystander')}\n`, env })
  t.equal(picked.status, 0, picked.stderr)
  rmSync(file)
  mkdirSync(file)
  const hashed = await runBin('sysbackup-hash', ['--state-dir', join(dir, 'state')], { stdin: picked.stdout, env })
  const records = hashed.records()
  const problem = records.find((r) => (r.type === 'error' || r.type === 'warning') && r.path === file)
  t.match(problem, { stage: 'sysbackup-hash', message: /directory/ }, 'reported, with the path')
  t.match(hashed.stderr, new RegExp(`^sysbackup-hash: (warning: )?${file}: .*directory`, 'm'), 'in one line')
  t.notOk(records.some((r) => r.type === 'file' && r.path === file && typeof r.sha256 === 'string'), 'no hash claimed for it')
  t.ok(records.some((r) => r.type === 'file' && r.path === join(dir, 'bystander') && typeof r.sha256 === 'string'), 'the rest is hashed')
  t.match(records.at(-1), { type: 'trailer', producer: 'sysbackup-hash' })
})

t.test('files rewritten and truncated while the archive reads them: every stored content hashes to its key', async (t) => {
  const m = local(t, (tree) => {
    for (let i = 0; i < 4; i++) writeFileSync(join(tree, `busy${i}`), randomBytes(12 * 1024 * 1024))
    for (let i = 0; i < 20; i++) writeFileSync(join(tree, `quiet${i}`), textOf(1000 + i))
  })
  // A writer that keeps truncating and rewriting the busy files for the whole run.
  const writer = spawn('bash', ['-c', `while :; do for i in 0 1 2 3; do f='${m.tree}'/busy$i; truncate -s $((RANDOM * 100)) $f; head -c $((RANDOM * 300)) /dev/urandom >> $f; done; done`], { stdio: 'ignore', detached: true })
  t.teardown(() => { try { process.kill(-writer.pid!, 'SIGKILL') } catch { /* gone */ } })
  const run = await m.archive()
  process.kill(-writer.pid!, 'SIGKILL')
  t.ok(run.status === 0 || run.status === 1, `the run ends normally (${run.status})\n${run.stderr}`)
  const check = await checkStore(await LocalStore.open(m.store))
  t.same(check.problems, [], 'invariants 1 and 2 hold')
  t.equal(check.manifests.length, 1)
  t.comment(`changing files: ${check.contentKeys} content keys stored; run ${summaryOf(run)?.outcome}`)
})

t.test('symlink loops are recorded as symlinks and restored as they were', async (t) => {
  const m = local(t, (tree) => {
    symlinkSync('loop-b', join(tree, 'loop-a'))
    symlinkSync('loop-a', join(tree, 'loop-b'))
    symlinkSync('self', join(tree, 'self'))
    mkdirSync(join(tree, 'dir'))
    symlinkSync('..', join(tree, 'dir', 'up'))
    symlinkSync(tree, join(tree, 'dir', 'root'))
    writeFileSync(join(tree, 'dir', 'file'), 'content\n')
  })
  const run = await m.archive()
  t.equal(run.status, 0, run.stderr)
  t.match(run.stderr, /sysbackup-pick: warning: .*loop-a: symlink loop/, 'the loop is noticed, not followed forever')
  const target = join(testDir(t), '..', `${t.name.length}-target`)
  rmSync(target, { recursive: true, force: true })
  t.teardown(() => rmSync(target, { recursive: true, force: true }))
  const restored = await m.restore(target)
  t.equal(restored.status, 0, restored.stderr)
  t.same(await compareTrees(m.tree, join(target, m.tree)), [])
})

t.test('a path longer than 4096 bytes: the run says it is incomplete and backs up the rest', async (t) => {
  let deep = ''
  const m = local(t, (tree) => {
    writeFileSync(join(tree, 'shallow'), 'here\n')
    // mkdir -p cannot make it (ENAMETOOLONG): one relative step at a time.
    const name = 'd'.repeat(200)
    execFileSync('bash', ['-c', `cd '${tree}' && for i in $(seq 25); do mkdir ${name} && cd ${name} || exit 1; done && echo deep > deep.txt`])
    deep = `${tree}/${Array(25).fill(name).join('/')}/deep.txt`
  })
  t.ok(Buffer.byteLength(deep) > 4096, `the path is ${Buffer.byteLength(deep)} bytes`)
  const run = await m.archive()
  t.equal(run.status, 1, 'incomplete: a file that exists is not in the backup')
  t.match(summaryOf(run), { outcome: 'incomplete' })
  t.match(run.stderr, /sysbackup-pick: .*10-tree: skipped a path longer than 4095 bytes: it cannot be opened by name, so it is not backed up$/m)
  const check = await checkStore(await LocalStore.open(m.store))
  t.same(check.problems, [])
  t.ok(check.manifests[0]?.key.endsWith('.incomplete.ndjson.gz'), 'stored as an incomplete manifest')
  t.ok(check.contentKeys >= 1, 'the rest was backed up')
  // tap's own cleanup cannot remove it (ENAMETOOLONG); rm walks it by descriptors.
  execFileSync('rm', ['-rf', join(m.tree, 'd'.repeat(200))])
})
