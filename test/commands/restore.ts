import t, { type Test } from 'tap'
import { existsSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { PassThrough } from 'node:stream'
import { runCommand } from '../../src/cli/command.js'
import { makeRestoreCommand } from '../../src/commands/restore.js'
import type { Confirm } from '../../src/restore/confirm.js'
import { humanBytes, RestoreProgress } from '../../src/restore/progress.js'
import { runBackup } from '../helpers/backup-fixture.js'
import { testIO } from '../helpers/io.js'
import { compareTrees } from '../helpers/tree-compare.js'

const T1 = new Date('2026-11-24T08:00:00Z')
const T2 = new Date('2026-11-25T08:00:00Z')

/** Two backups of one host: T1, then T2 after a file was changed and one added. */
async function fixture(t: Test) {
  const base = t.testdir({ src: { etc: { 'app.conf': 'version = 1\n' }, data: { 'a.txt': 'a\n' } } })
  const src = join(base, 'src')
  utimesSync(join(src, 'etc/app.conf'), 1_600_000_000, 1_600_000_000)
  const storeArgs = ['--store', join(base, 'store')]
  const first = await runBackup(src, join(base, 'w1'), { host: 'web1', runTime: T1, storeArgs })
  writeFileSync(join(src, 'etc/app.conf'), 'version = 2, much longer\n')
  writeFileSync(join(src, 'data/b.txt'), 'b\n')
  const second = await runBackup(src, join(base, 'w2'), { host: 'web1', runTime: T2, storeArgs })
  return { base, src, storeDir: join(base, 'store'), first, second }
}

async function run(args: string[], answers: boolean[] | null = []) {
  const asked: string[] = []
  const confirm: Confirm | null = answers === null ? null : async (q) => { asked.push(q); return answers.shift() ?? false }
  const io = testIO()
  const status = await runCommand(makeRestoreCommand({ confirm, host: 'web1' }), args, io)
  return { status, out: io.out(), err: io.err(), asked }
}

t.test('by default: this host\'s newest complete backup, shown, confirmed, restored, summed up', async (t) => {
  const f = await fixture(t)
  const target = join(f.base, 'target')
  const r = await run(['--store', f.storeDir, '--target', target], [true])
  t.equal(r.status, 0, r.err)
  t.same(r.asked, [`Restore this backup into ${target}?`])
  const plan = r.err.split('\n').slice(0, 5)
  t.same(plan, [
    'Backup:    manifests/web1/20261125T080000Z.ndjson.gz',
    `           host web1, 2026-11-25T08:00:00.000Z, complete, ${(f.second.records.at(-1)!.counts as Record<string, number>).entries} entries, 29 B in 3 files`,
    `Target:    ${target}`,
    'Existing:  identical files are skipped; different ones are kept (--overwrite replaces them)',
    `Snapshots: downloaded to ${target}/var/backups/s3-sysbackup/web1-20261125T080000Z; restore-through commands asked about one by one`,
  ])
  t.match(r.err, /restored \d+ of \d+ entries/, 'progress lines when stderr is not a terminal')
  t.match(r.out, /^Restored manifests\/web1\/20261125T080000Z\.ndjson\.gz into .*:\n  3 written, 0 replaced, 0 hard links, 0 symlinks, \d+ directories, 0 skipped \(already there\), 0 kept \(different\), 0 failed\n  \d+ B written, \d+ B downloaded, in \d+\.\d s\n$/)
  t.same(await compareTrees(f.src, join(target, f.src)), [])
})

t.test('--at: an older backup, exactly as it was', async (t) => {
  const f = await fixture(t)
  const target = join(f.base, 'old')
  const r = await run(['--store', f.storeDir, '--target', target, '--at', '2026-11-24', '--yes'], null)
  t.equal(r.status, 0, r.err)
  t.match(r.err, 'Backup:    manifests/web1/20261124T080000Z.ndjson.gz')
  t.equal(readFileSync(join(target, f.src, 'etc/app.conf'), 'utf8'), 'version = 1\n')
  t.equal(statSync(join(target, f.src, 'etc/app.conf')).mtimeMs, 1_600_000_000_000)
  t.same(readdirSync(join(target, f.src, 'data')), ['a.txt'], 'the file added later is not there')
  // --key names it exactly, too.
  const byKey = await run(['--store', f.storeDir, '--target', join(f.base, 'bykey'), '--key', f.first.key, '--yes'], null)
  t.equal(byKey.status, 0, byKey.err)
  t.equal(readFileSync(join(f.base, 'bykey', f.src, 'etc/app.conf'), 'utf8'), 'version = 1\n')
})

t.test('not confirmed, or nowhere to confirm: nothing is restored', async (t) => {
  const f = await fixture(t)
  const target = join(f.base, 'target')
  const no = await run(['--store', f.storeDir, '--target', target], [false])
  t.equal(no.status, 2)
  t.match(no.err, 's3-sysbackup restore: not confirmed: nothing was restored\n')
  t.notOk(existsSync(target))
  const noTerminal = await run(['--store', f.storeDir, '--target', target], null)
  t.equal(noTerminal.status, 2)
  t.equal(noTerminal.err, 's3-sysbackup restore: there is no terminal to confirm on: give --yes (or --dry-run to look first)\n')
})

t.test('--dry-run: the plan, line by line, and nothing written', async (t) => {
  const f = await fixture(t)
  const target = join(f.base, 'target')
  const r = await run(['--store', f.storeDir, '--target', target, '--dry-run', '--include', `${f.src}/etc`], null)
  t.equal(r.status, 0, r.err)
  t.notOk(existsSync(target))
  t.match(r.out, `would-write dir      ${join(target, f.src, 'etc')}\n`)
  t.match(r.out, `would-write file     ${join(target, f.src, 'etc/app.conf')}\n`)
  t.notMatch(r.out, 'a.txt')
  t.match(r.out, /Dry run of manifests\/web1\/20261125T080000Z\.ndjson\.gz into .*: 2 entries would be written, 0 refused\.\n$/)
  t.match(r.err, `Only:      +${f.src}/etc`)
})

t.test('an incomplete restore says so and exits 1', async (t) => {
  const f = await fixture(t)
  const target = join(f.base, 'target')
  t.equal((await run(['--store', f.storeDir, '--target', target, '--yes'], null)).status, 0)
  writeFileSync(join(target, f.src, 'data/a.txt'), 'changed\n')
  const r = await run(['--store', f.storeDir, '--target', target, '--yes'], null)
  t.equal(r.status, 1)
  t.match(r.err, `s3-sysbackup restore: warning: ${join(f.src, 'data/a.txt')}: a different file is there; kept (use --overwrite to replace it)`)
  t.match(r.err, 's3-sysbackup restore: the restore is incomplete: existing entries that differ were kept (see the "kept" records) (see the messages above)')
  t.match(r.out, '2 skipped (already there), 1 kept (different)')
})

t.test('progress on a terminal: one line rewritten in place, cleared for messages', async (t) => {
  const out = Object.assign(new PassThrough(), { isTTY: true })
  let text = ''
  out.on('data', (c: Buffer) => { text += c.toString() })
  let now = 0
  const progress = new RestoreProgress(out, 3, () => now)
  progress.note({ type: 'restore', action: 'written', size: 2048 })
  now += 500
  progress.note({ type: 'restore', action: 'failed' })
  progress.stderr.write('sysbackup: /x: a problem\n')
  now += 10
  progress.note({ type: 'restore', action: 'skipped', size: 100 })
  progress.finish()
  t.equal(text, [
    '\r\x1b[Krestored 1 of 3 entries, 2.0 KiB',
    '\r\x1b[Krestored 2 of 3 entries, 2.0 KiB, 1 failed',
    '\r\x1b[K', 'sysbackup: /x: a problem\n', '\r\x1b[Krestored 2 of 3 entries, 2.0 KiB, 1 failed',
    '\r\x1b[K',
  ].join(''), 'the third update came within 100 ms and was not drawn')
  t.equal(humanBytes(0), '0 B')
  t.equal(humanBytes(1536), '1.5 KiB')
  t.equal(humanBytes(5 * 1024 ** 3), '5.0 GiB')
})
