import t, { type Test } from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runStage } from '../../src/cli/stage.js'
import type { Rec } from '../../src/protocol/records.js'
import { makeRestoreStage } from '../../src/restore/restore-stage.js'
import { LocalStore } from '../../src/store/local-store.js'
import { runBackup, writeManifest } from '../helpers/backup-fixture.js'
import { testIO } from '../helpers/io.js'
import { compareTrees } from '../helpers/tree-compare.js'

const RUN = new Date('2026-11-26T08:00:00Z')
const noTerminal = makeRestoreStage({ confirm: null })

/** A small source tree and its backup in a local store. */
async function fixture(t: Test) {
  const base = t.testdir({
    src: {
      etc: { 'hosts': '127.0.0.1 localhost\n', 'nginx': { 'nginx.conf': 'worker_processes 1;\n', 'sites': { default: 'server {}\n' } } },
      home: { ann: { '.bashrc': 'PS1=x\n', 'notes.log': 'a log\n' } },
      var: { log: { 'syslog.log': 'boot\n' } },
    },
  })
  const src = join(base, 'src')
  execFileSync('chmod', ['0750', join(src, 'etc/nginx')])
  const backup = await runBackup(src, join(base, 'work'), { host: 'web1', runTime: RUN, storeArgs: ['--store', join(base, 'store')] })
  return { base, src, storeDir: join(base, 'store'), backup, target: join(base, 'target') }
}

const restores = (recs: Rec[]) => recs.filter((r) => r.type === 'restore')
const trailer = (recs: Rec[]) => recs.at(-1)!

/** Every name under `dir`, relative, sorted. */
function listing(dir: string): string[] {
  if (!existsSync(dir)) return []
  return (readdirSync(dir, { recursive: true }) as string[]).sort()
}

t.test('the manifest on stdin, gzip or plain, filtered or not', async (t) => {
  const f = await fixture(t)
  const gz = readFileSync(join(f.storeDir, f.backup.key, f.backup.versionId))
  const io = testIO(gz)
  t.equal(await runStage(noTerminal, ['--store', f.storeDir, '--target', f.target], io), 0, io.err())
  t.same(await compareTrees(f.src, join(f.target, f.src)), [])
  const out = io.records()
  t.match(out[0], { type: 'header', producer: 'sysbackup-restore', target: f.target })
  t.equal(out.filter((r) => r.type === 'header').length, 1, 'the manifest\'s own header and trailer are not passed on')
  t.match(trailer(out), { type: 'trailer', ok: true, counts: { files: 6, written: 6, failed: 0, 'req.GetObject': 6 } })
  t.ok(restores(out).every((r) => typeof r.path === 'string' && typeof r.entry === 'string'))

  // The README's way: keep records without a path (header, trailer), and the entries under /etc.
  const filtered = f.backup.text.split('\n').filter((l) => l !== '' && (!l.includes('"path"') || l.includes(`"path":"${f.src}/etc`)))
  const target2 = join(f.base, 'target2')
  const io2 = testIO(filtered.join('\n') + '\n')
  t.equal(await runStage(noTerminal, ['--store', f.storeDir, '--target', target2], io2), 0, io2.err())
  t.same(listing(join(target2, f.src)), ['etc', 'etc/hosts', 'etc/nginx', 'etc/nginx/nginx.conf', 'etc/nginx/sites', 'etc/nginx/sites/default'])
})

t.test('--dry-run writes nothing, downloads nothing, and says what would go where', async (t) => {
  const f = await fixture(t)
  mkdirSync(join(f.target, f.src, 'etc'), { recursive: true })
  writeFileSync(join(f.target, f.src, 'etc/hosts'), 'other\n')
  const before = listing(f.target)
  const io = testIO()
  t.equal(await runStage(noTerminal, ['--store', f.storeDir, '--key', f.backup.key, '--target', f.target, '--dry-run'], io), 0, io.err())
  t.same(listing(f.target), before, 'the target is unchanged')
  t.equal(readFileSync(join(f.target, f.src, 'etc/hosts'), 'utf8'), 'other\n')
  const out = io.records()
  t.ok(restores(out).every((r) => r.action === 'would-write'))
  t.match(restores(out).find((r) => r.path === join(f.src, 'etc/hosts')), { entry: 'file', to: join(f.target, f.src, 'etc/hosts'), existing: 'file', size: 20 })
  t.match(restores(out).find((r) => r.path === join(f.src, 'home/ann/.bashrc')), { to: join(f.target, f.src, 'home/ann/.bashrc') })
  t.notOk('existing' in restores(out).find((r) => r.path === join(f.src, 'home/ann/.bashrc'))!)
  const counts = trailer(out).counts as Record<string, number>
  t.equal(counts['req.GetObject'], 1, 'only the manifest was read')
  t.match(out[0], { dryRun: true, manifest: f.backup.key })
  // Into a target that does not exist yet, and with no store at all when the manifest is on stdin.
  const io2 = testIO(f.backup.text)
  t.equal(await runStage(noTerminal, ['--target', join(f.base, 'new'), '--dry-run', '--store', '/nonexistent'], io2), 0, io2.err())
  t.notOk(existsSync(join(f.base, 'new')))
  t.equal(restores(io2.records()).length, f.backup.records.filter((r) => r.path !== undefined).length)
})

t.test('--include and --exclude: a partial restore, with the directories above it', async (t) => {
  const f = await fixture(t)
  const io = testIO()
  const args = ['--store', f.storeDir, '--key', f.backup.key, '--target', f.target, '--include', `${f.src}/etc/nginx`, '--include', `${f.src}/home`, '--exclude', '*.log']
  t.equal(await runStage(noTerminal, args, io), 0, io.err())
  t.same(listing(join(f.target, f.src)), ['etc', 'etc/nginx', 'etc/nginx/nginx.conf', 'etc/nginx/sites', 'etc/nginx/sites/default', 'home', 'home/ann', 'home/ann/.bashrc'])
  t.equal(lstatSync(join(f.target, f.src, 'etc/nginx')).mode & 0o7777, 0o750)
  t.equal(lstatSync(join(f.target, f.src, 'etc')).mode & 0o7777, lstatSync(join(f.src, 'etc')).mode & 0o7777, 'a directory above the selection gets its own metadata')
  t.equal(lstatSync(join(f.target, f.src, 'etc')).mtimeMs, lstatSync(join(f.src, 'etc')).mtimeMs)
  const counts = trailer(io.records()).counts as Record<string, number>
  t.match(counts, { files: 3, written: 3 })
  t.equal(counts.entries, counts.filtered! + counts.files! + counts.dirs!, 'every entry selected or filtered')
})

t.test('existing files: identical ones skipped, different ones kept or, with --overwrite, replaced', async (t) => {
  const f = await fixture(t)
  const args = ['--store', f.storeDir, '--key', f.backup.key, '--target', f.target]
  t.equal(await runStage(noTerminal, args, testIO()), 0)
  const again = testIO()
  t.equal(await runStage(noTerminal, args, again), 0, again.err())
  t.match(trailer(again.records()), { counts: { skipped: 6, written: 0, 'req.GetObject': 1 } }, 'a rerun downloads nothing but the manifest')

  writeFileSync(join(f.target, f.src, 'etc/hosts'), 'changed by hand\n')
  execFileSync('chmod', ['0600', join(f.target, f.src, 'etc/nginx/nginx.conf')])
  const kept = testIO()
  t.equal(await runStage(noTerminal, args, kept), 1, 'incomplete: something differs')
  t.equal(readFileSync(join(f.target, f.src, 'etc/hosts'), 'utf8'), 'changed by hand\n', 'kept')
  t.match(restores(kept.records()).find((r) => r.path === join(f.src, 'etc/hosts')), { action: 'kept', reason: 'a different file is there; kept (use --overwrite to replace it)' })
  t.match(kept.err(), `sysbackup-restore: warning: ${join(f.src, 'etc/hosts')}: a different file is there; kept (use --overwrite to replace it)`)
  t.equal(lstatSync(join(f.target, f.src, 'etc/nginx/nginx.conf')).mode & 0o777, 0o644, 'same content: the mode is set again')

  const replaced = testIO()
  t.equal(await runStage(noTerminal, [...args, '--overwrite'], replaced), 0, replaced.err())
  t.equal(readFileSync(join(f.target, f.src, 'etc/hosts'), 'utf8'), '127.0.0.1 localhost\n')
  t.match(trailer(replaced.records()), { counts: { replaced: 1, skipped: 5 } })
  t.same(await compareTrees(f.src, join(f.target, f.src)), [])
})

t.test('the root of this machine needs --yes or a confirmation', async (t) => {
  const f = await fixture(t)
  const io = testIO()
  t.equal(await runStage(noTerminal, ['--store', f.storeDir, '--key', f.backup.key], io), 2)
  t.equal(io.err(), 'sysbackup-restore: restoring into / needs --yes (there is no terminal to confirm on)\n')
  t.equal(io.out(), '')
  const asked: string[] = []
  const refuse = makeRestoreStage({ confirm: async (q) => { asked.push(q); return false } })
  const io2 = testIO()
  t.equal(await runStage(refuse, ['--store', f.storeDir, '--key', f.backup.key, '--target', join(f.base, '..', '..', '..', '..', '..', '..', '..', '..')], io2), 2)
  t.same(asked, ['Restore into / on this machine?'])
  t.equal(io2.err(), 'sysbackup-restore: not confirmed: nothing was restored\n')
  const dry = testIO()
  t.equal(await runStage(noTerminal, ['--store', f.storeDir, '--key', f.backup.key, '--dry-run'], dry), 0, 'a dry run needs no confirmation')
  t.match(restores(dry.records())[0], { action: 'would-write', to: '/' })
})

t.test('snapshots: downloaded; restore-through run with the snapshot on stdin only when allowed, without credentials', async (t) => {
  const base = t.testdir({ src: { f: 'x' }, out: {} })
  const out = join(base, 'out')
  const storeDir = join(base, 'store')
  const dump = 'CREATE TABLE t (x int);\n'
  // Real snapshots, from sysbackup-snap in the backup pipeline.
  const backup = await runBackup(join(base, 'src'), join(base, 'work'), {
    host: 'db1', runTime: RUN, storeArgs: ['--store', storeDir],
    snapshotters: {
      pgdump: `echo "a test dump"\necho '::restore-through:: cat > "$OUT/received"; env > "$OUT/env"'\nprintf '${dump.replace('\n', '\\n')}' >&"$1"`,
      notes: 'echo "no command"\nprintf "some notes" >&"$1"',
      broken: `echo '::restore-through:: exit 3'\nprintf x >&"$1"`,
    },
  })
  const snapshots = backup.records.filter((r) => r.type === 'snapshot')
  t.equal(snapshots.length, 3)
  // A manifest with a directory the snapshots go into, to see that its restored time is kept.
  const backupsDir = { type: 'dir', path: '/var/backups', mode: '0755', uid: 0, gid: 0, mtimeNs: '1600000000123456789', ctimeNs: '1', storageId: '1:9', nlink: 2 }
  const store = LocalStore.open(storeDir)
  const pgdump = snapshots.find((r) => r.name === 'pgdump')!
  // A command that is not UTF-8 (given exactly as restoreThroughB64) is never run from its lossy text.
  const odd = { ...pgdump, name: 'odd', restoreThrough: 'touch "$OUT/odd-\ufffd"', restoreThroughB64: Buffer.from('touch "$OUT/odd-\xff"', 'latin1').toString('base64') }
  const manifest = await writeManifest(store, [backupsDir], { host: 'db1', runTime: new Date(RUN.getTime() + 1000), snapshots: [...snapshots.filter((r) => r.name !== 'broken'), odd] })
  const env = { OUT: out, AWS_SECRET_ACCESS_KEY: 'very-secret-key-value', AWS_ACCESS_KEY_ID: 'AKIAEXAMPLE', AWS_REGION: 'eu-west-1' }
  const target = join(base, 'target')

  const notRun = testIO('', env)
  t.equal(await runStage(noTerminal, ['--store', storeDir, '--key', manifest.key, '--target', target], notRun), 0, notRun.err())
  const dir = join(target, 'var/backups/s3-sysbackup/db1-20261126T080001Z')
  t.equal(readFileSync(join(dir, 'pgdump'), 'utf8'), dump)
  t.equal(lstatSync(join(dir, 'pgdump')).mode & 0o777, 0o600)
  t.equal(lstatSync(dir).mode & 0o777, 0o700)
  t.notOk(existsSync(join(out, 'received')), 'not run without --yes or a terminal')
  t.equal(lstatSync(join(target, 'var/backups'), { bigint: true }).mtimeNs, 1600000000123456789n, 'the restored directory the snapshots went into keeps its time')
  t.match(restores(notRun.records()).find((r) => r.name === 'pgdump'), { entry: 'snapshot', action: 'written', to: join(dir, 'pgdump'), size: dump.length, restoreThrough: 'not-run' })
  t.match(restores(notRun.records()).find((r) => r.name === 'notes'), { action: 'written' })
  t.notOk('restoreThrough' in restores(notRun.records()).find((r) => r.name === 'notes')!)
  t.match(notRun.err(), `sysbackup-restore: snapshot pgdump is at ${join(dir, 'pgdump')}; its restore-through command is: cat > "$OUT/received"; env > "$OUT/env"`)

  const asked: string[] = []
  const yesOnce = makeRestoreStage({ confirm: async (q) => { asked.push(q); return true } })
  const ran = testIO('', env)
  t.equal(await runStage(yesOnce, ['--store', storeDir, '--key', manifest.key, '--target', target], ran), 0, ran.err())
  t.same(asked, ['Run the restore-through command of snapshot pgdump now, with the snapshot on its standard input?'])
  t.same(readdirSync(out).filter((n) => n.startsWith('odd')), [], 'the command that is not UTF-8 was not run')
  t.match(ran.err(), 'snapshot odd: restore-through command not run: it is not valid UTF-8')
  t.equal(readFileSync(join(out, 'received'), 'utf8'), dump, 'the snapshot arrived on stdin')
  const seen = readFileSync(join(out, 'env'), 'utf8')
  t.notMatch(seen, /AWS_SECRET_ACCESS_KEY|AWS_ACCESS_KEY_ID|very-secret-key-value/, 'no credentials in its environment')
  t.match(seen, /AWS_REGION=eu-west-1/)
  t.match(restores(ran.records()).find((r) => r.name === 'pgdump'), { action: 'skipped', restoreThrough: 'ran' })

  // The backup's own manifest, with --yes: every command runs; the failing one is an error.
  const yes = testIO('', env)
  t.equal(await runStage(noTerminal, ['--store', storeDir, '--key', backup.key, '--target', join(base, 't2'), '--yes', '--snapshot-dir', join(base, 'snaps')], yes), 1)
  t.ok(existsSync(join(base, 'snaps', 'broken')))
  t.match(yes.err(), 'sysbackup-restore: snapshot broken: restore-through command failed (exit status 3)')
  t.match(restores(yes.records()).find((r) => r.name === 'pgdump'), { restoreThrough: 'ran' })

  const none = testIO('', env)
  t.equal(await runStage(noTerminal, ['--store', storeDir, '--key', backup.key, '--target', join(base, 't3'), '--no-snapshots'], none), 0)
  t.match(none.err(), 'warning: 3 snapshot(s) not restored (--no-snapshots)')
})

t.test('usage errors: one line, exit 2, nothing done', async (t) => {
  const f = await fixture(t)
  const cases: [string[], RegExp][] = [
    [['--key', f.backup.key, '--host', 'x'], /--key names one manifest exactly: give it without --host and --at/],
    [['--jobs', '0', '--key', f.backup.key], /option --jobs: 0 is not a whole number from 1 to 64/],
    [['--snapshot-dir', 'x', '--no-snapshots', '--key', f.backup.key], /--snapshot-dir and --no-snapshots do not go together/],
    [['--role-arn', 'arn:aws:iam::123456789012:role/x', '--key', f.backup.key], /--role-arn is used only with --creds FILE/],
    [['--creds', 'x.pkg', '--key', f.backup.key], /give --creds FILE or --store DIR, not both/],
    [['--at', 'last week'], /--at: "last week" is not an ISO-8601 time with a zone/],
    [['--include', '/a[', '--key', f.backup.key], /option --include: pattern "\/a\[" has "\[" without "\]"/],
    [['extra'], /unexpected argument "extra"/],
    [['--bogus'], /unknown option --bogus/],
  ]
  for (const [args, why] of cases) {
    const io = testIO()
    t.equal(await runStage(noTerminal, ['--store', f.storeDir, '--target', f.target, ...args], io), 2, args.join(' '))
    t.match(io.err(), why)
    t.equal(io.err().split('\n').length, 2, 'one line')
    t.equal(io.out(), '')
  }
  t.notOk(existsSync(f.target))
  const notDir = testIO()
  t.equal(await runStage(noTerminal, ['--store', f.storeDir, '--key', f.backup.key, '--target', join(f.src, 'etc/hosts')], notDir), 2)
  t.equal(notDir.err(), `sysbackup-restore: --target ${join(f.src, 'etc/hosts')}: not a directory\n`)
  const tty = testIO()
  ;(tty.stdin as { isTTY?: boolean }).isTTY = true
  t.equal(await runStage(noTerminal, ['--target', f.target], tty), 2)
  t.match(tty.err(), /no manifest: give --key, --host or --at, or pipe one on standard input/)
})

t.test('times the helper cannot set: an error record for the path, after its restore record; the file is restored', async (t) => {
  const f = await fixture(t)
  // A python3 that starts like the helper and refuses every request.
  const fakeBin = join(f.base, 'fake-bin')
  mkdirSync(fakeBin)
  writeFileSync(join(fakeBin, 'python3'), `#!${process.execPath}
process.stdout.write('ready\\n')
let text = ''
process.stdin.on('data', (chunk) => {
  text += chunk.toString('latin1')
  // A request is five fields (op, id, two numbers, path), each ended by NUL.
  let fields
  while ((fields = text.split('\\0')).length > 5) {
    process.stdout.write(fields[1] + ' EPERM\\n')
    text = fields.slice(5).join('\\0')
  }
})
`, { mode: 0o755 })
  // One file's modification time below the second: only the helper can set it.
  const hostsPath = `${f.src}/etc/hosts`
  const text = f.backup.text.split('\n').filter((l) => l !== '' && !l.includes('"type":"trailer"'))
    .map((l) => l.includes(`"path":"${hostsPath}"`) ? l.replace(/"mtimeNs":"(\d+)"/, '"mtimeNs":"1600000000123456789"') : l)
  const io = testIO(text.join('\n') + '\n', { PATH: `${fakeBin}:${process.env.PATH}` })
  t.equal(await runStage(noTerminal, ['--store', f.storeDir, '--target', f.target], io), 1, 'exit 1: not everything was restored as it was')
  const out = io.records()
  const at = (pred: (r: Rec) => boolean) => out.findIndex(pred)
  const restored = at((r) => r.type === 'restore' && r.path === hostsPath)
  const problem = at((r) => r.type === 'error' && r.path === hostsPath)
  t.match(out[restored], { action: 'written' })
  t.match(out[problem], { message: /^times not restored: EPERM/ })
  t.ok(problem > restored, 'the error comes after the restore record')
  t.equal(readFileSync(join(f.target, hostsPath), 'utf8'), '127.0.0.1 localhost\n', 'the content is there')
  t.match(io.err(), /times not restored: EPERM/)
})
