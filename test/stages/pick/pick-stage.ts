import t, { type Test } from 'tap'
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, relative } from 'node:path'
import { runStage } from '../../../src/cli/stage.js'
import { decodePath, pathBytes } from '../../../src/protocol/path-codec.js'
import type { Rec } from '../../../src/protocol/records.js'
import { PICK_COUNTERS } from '../../../src/stages/pick/pick.js'
import { pickStage } from '../../../src/stages/pick/pick-stage.js'
import { testIO } from '../../helpers/io.js'

/** A new empty directory of this test's own (t.testdir() gives one per test; callers need several). */
function scratch(t: Test): string {
  if (!existsSync(t.testdirName)) t.testdir({})
  return mkdtempSync(join(t.testdirName, 'd-'))
}

/** A configuration directory with `conf`, some data, and the given pickers (shell script bodies; `$CONF` is the directory). */
function config(t: Test, pickers: Record<string, string>, conf = ''): string {
  const dir = scratch(t)
  writeFileSync(join(dir, 'conf'), conf)
  mkdirSync(join(dir, 'pickers.d'))
  mkdirSync(join(dir, 'data/etc'), { recursive: true })
  mkdirSync(join(dir, 'data/var/log'), { recursive: true })
  writeFileSync(join(dir, 'data/etc/hosts'), '127.0.0.1 localhost\n')
  writeFileSync(join(dir, 'data/etc/passwd.conf'), 'x')
  writeFileSync(join(dir, 'data/var/log/a.log'), 'log')
  for (const [name, body] of Object.entries(pickers)) {
    writeFileSync(join(dir, 'pickers.d', name), `#!/bin/sh\n${body.replaceAll('$CONF', dir)}\n`, { mode: 0o755 })
  }
  return dir
}

const body = (recs: Rec[]) => recs.filter((r) => r.type !== 'header' && r.type !== 'trailer')
const entries = (recs: Rec[]) => recs.filter((r) => ['file', 'dir', 'symlink', 'special'].includes(r.type))
const pathOf = (rec: Rec) => pathBytes(decodePath(rec)).toString('latin1')

async function run(argv: string[], stdin: string | Buffer = '') {
  const io = testIO(stdin)
  const status = await runStage(pickStage, argv, io)
  return {
    status,
    io,
    get records() { return io.records() },
    get trailer() { return io.records().at(-1)! },
  }
}

t.test('two pickers: each path once, ancestors once, counters in the trailer', async (t) => {
  const dir = config(t, {
    '10-etc': 'find "$CONF/data/etc" -type f',
    '20-all': 'find "$CONF/data" -type f -print0',
  })
  const { status, records, trailer, io } = await run(['--config', dir], '')
  t.equal(status, 0, io.err())
  t.match(records[0], { type: 'header', producer: 'sysbackup-pick' })
  const recorded = entries(records).map(pathOf)
  t.equal(new Set(recorded).size, recorded.length, 'no path twice')
  for (const f of ['data/etc/hosts', 'data/etc/passwd.conf', 'data/var/log/a.log']) t.ok(recorded.includes(join(dir, f)), f)
  for (const d of ['data', 'data/etc', 'data/var', 'data/var/log']) t.ok(recorded.includes(join(dir, d)), `ancestor ${d}`)
  t.ok(recorded.indexOf(join(dir, 'data/etc')) < recorded.indexOf(join(dir, 'data/etc/hosts')), 'ancestors come first')
  t.match(trailer, { type: 'trailer', ok: true, counts: { pickers: 2, paths: 5, files: 3, errors: 0, warnings: 0 } })
  const counts = trailer.counts as Record<string, number>
  t.equal(counts.entries, recorded.length)
  t.equal(counts.entries, counts.files! + counts.dirs! + counts.symlinks! + counts.special!)
  for (const name of PICK_COUNTERS) t.type(counts[name], 'number', `counter ${name} present`)
})

t.test('a failing picker: error record, its paths kept, the next picker still runs, exit 1', async (t) => {
  const dir = config(t, {
    '10-fails': `echo ${'"$CONF/data/etc/hosts"'}; exit 1`,
    '20-ok': 'echo "$CONF/data/var/log/a.log"',
  })
  const { status, records, trailer, io } = await run(['--config', dir])
  t.equal(status, 1)
  const failing = join(dir, 'pickers.d/10-fails')
  t.match(body(records).find((r) => r.type === 'error'), { type: 'error', stage: 'sysbackup-pick', path: failing, message: 'picker exited with status 1' })
  t.ok(entries(records).some((r) => r.path === join(dir, 'data/etc/hosts')), 'the path printed before is kept')
  t.ok(entries(records).some((r) => r.path === join(dir, 'data/var/log/a.log')), 'the next picker ran')
  t.match(trailer, { ok: false, reason: '1 error(s)', counts: { pickers: 2, errors: 1 } })
  t.match(io.err(), `sysbackup-pick: ${failing}: picker exited with status 1\n`)
})

t.test('a picker printing garbage: warnings, the run goes on, exit 0', async (t) => {
  const dir = config(t, {
    '10-garbage': 'printf "\\211PNG\\r\\n\\032\\n\\000\\000\\000\\rIHDR\\n/nonexistent/file\\nrelative/garbage\\n"; echo "$CONF/data/etc/hosts"',
  })
  const { status, records, trailer } = await run(['--config', dir])
  t.equal(status, 0)
  const warnings = body(records).filter((r) => r.type === 'warning')
  t.match(warnings, [
    { code: 'ENOENT', pathB64: Buffer.from('/\x89PNG\r', 'latin1').toString('base64') },
    { code: 'ENOENT', path: '/\x1a' },
    { message: /not a path \(contains a NUL byte\)/ },
    { code: 'ENOENT', path: '/nonexistent/file' },
    { code: 'ENOENT', path: '/relative/garbage' },
  ])
  t.ok(entries(records).some((r) => r.path === join(dir, 'data/etc/hosts')))
  t.match(trailer, { ok: true, counts: { missing: 4, warnings: 5, errors: 0 } })
})

t.test('a picker that cannot be run, and one printing an overlong line', async (t) => {
  const dir = config(t, { '20-long': `printf '%05000d\\n' 0; echo "$CONF/data/etc/hosts"` })
  writeFileSync(join(dir, 'pickers.d/10-badinterp'), '#!/nonexistent/interpreter\n', { mode: 0o755 })
  const { status, records } = await run(['--config', dir])
  t.equal(status, 1)
  t.match(body(records).filter((r) => r.type === 'error' || r.type === 'warning'), [
    { type: 'error', path: join(dir, 'pickers.d/10-badinterp'), code: 'ENOENT', message: 'cannot run picker: no such file or directory' },
    { type: 'error', message: `${join(dir, 'pickers.d/20-long')}: skipped a path longer than 4095 bytes: it cannot be opened by name, so it is not backed up` },
  ])
  t.ok(entries(records).some((r) => r.path === join(dir, 'data/etc/hosts')), 'the next path of that picker is kept')
})

t.test('a picker that never exits is killed by the timeout; what it printed is kept', async (t) => {
  const dir = config(t, {
    '10-hangs': 'echo "$CONF/data/etc/hosts"; sleep 1000',
    '20-next': 'echo "$CONF/data/var/log/a.log"',
  })
  const started = Date.now()
  const { status, records, trailer } = await run(['--config', dir, '--timeout', '0.5'])
  t.ok(Date.now() - started < 8000, 'killed, not waited for')
  t.equal(status, 1)
  t.match(body(records).find((r) => r.type === 'error'), {
    path: join(dir, 'pickers.d/10-hangs'), code: 'ETIMEDOUT', message: /did not finish within 0\.5 seconds and was killed/,
  })
  t.ok(entries(records).some((r) => r.path === join(dir, 'data/etc/hosts')))
  t.ok(entries(records).some((r) => r.path === join(dir, 'data/var/log/a.log')))
  t.match(trailer, { ok: false })
})

t.test('the timeout comes from [pickers] timeout when --timeout is not given', async (t) => {
  const dir = config(t, { '10-hangs': 'sleep 1000' }, '[pickers]\ntimeout = 0.3\n')
  const { status, records } = await run(['--config', dir])
  t.equal(status, 1)
  t.match(body(records), [{ type: 'error', code: 'ETIMEDOUT', message: /within 0\.3 seconds/ }])
})

t.test('NUL-separated picker output keeps names with newlines and invalid UTF-8', async (t) => {
  const dir = config(t, { '10-find': 'find "$CONF/data/odd" -type f -print0' })
  mkdirSync(join(dir, 'data/odd'))
  const names = [Buffer.from('new\nline'), Buffer.from('sp ace'), Buffer.from([0x6c, 0x61, 0x74, 0xe9])]
  for (const name of names) writeFileSync(Buffer.concat([Buffer.from(join(dir, 'data/odd') + '/'), name]), 'x')
  const { status, records } = await run(['--config', dir])
  t.equal(status, 0)
  const files = entries(records).filter((r) => r.type === 'file').map((r) => pathBytes(decodePath(r)))
  t.equal(files.length, 3)
  for (const name of names) {
    t.ok(files.some((f) => f.equals(Buffer.concat([Buffer.from(join(dir, 'data/odd') + '/'), name]))), JSON.stringify(name.toString('latin1')))
  }
})

t.test('--stdin: newline-separated, relative paths against the current directory', async (t) => {
  const dir = scratch(t)
  writeFileSync(join(dir, 'a'), 'a')
  writeFileSync(join(dir, 'b'), 'b')
  const rel = relative(process.cwd(), join(dir, 'b'))
  const { status, records, trailer } = await run(['--stdin', '--config', config(t, {})], `${join(dir, 'a')}\n\n${rel}\n`)
  t.equal(status, 0)
  const files = entries(records).filter((r) => r.type === 'file').map(pathOf)
  t.same(files, [join(dir, 'a'), join(dir, 'b')])
  t.match(trailer, { counts: { pickers: 0, paths: 2 } })
})

t.test('--stdin --null: NUL-separated even when a newline comes first', async (t) => {
  const dir = scratch(t)
  const weird = join(dir, 'first\nname')
  writeFileSync(weird, '')
  writeFileSync(join(dir, 'second'), '')
  const input = `${weird}\0${join(dir, 'second')}\0`
  const { status, records } = await run(['--stdin', '--null', '--config', config(t, {})], input)
  t.equal(status, 0)
  t.same(entries(records).filter((r) => r.type === 'file').map(pathOf), [weird, join(dir, 'second')])
  const auto = await run(['--stdin', '--config', config(t, {})], input)
  t.match(body(auto.records).filter((r) => r.type === 'warning'), [{ code: 'ENOENT' }], 'without --null the newline wins, and the first half is missing')
})

t.test('an empty pickers.d: a warning, nothing picked', async (t) => {
  const dir = config(t, {})
  const { status, records } = await run(['--config', dir])
  t.equal(status, 0)
  t.match(body(records), [{ type: 'warning', message: `${join(dir, 'pickers.d')}: no pickers, so nothing is picked` }])
})

t.test('configuration errors: exit 2, one line naming what is wrong, no output', async (t) => {
  const nonExec = config(t, { '10-ok': 'true' })
  writeFileSync(join(nonExec, 'pickers.d/20-list'), '/etc/hosts\n')
  chmodSync(join(nonExec, 'pickers.d/20-list'), 0o644)
  const withDir = config(t, { '10-ok': 'true' })
  mkdirSync(join(withDir, 'pickers.d/20-subdir'))
  const dangling = config(t, { '10-ok': 'true' })
  symlinkSync('../missing-picker', join(dangling, 'pickers.d/20-gone'))
  const noPickers = config(t, {})
  rmSync(join(noPickers, 'pickers.d'), { recursive: true })
  const cases: [string, string[], RegExp][] = [
    ['non-executable picker', ['--config', nonExec], new RegExp(`^sysbackup-pick: ${join(nonExec, 'pickers.d/20-list')}: is not executable \\(mode 0644\\)`)],
    ['directory in pickers.d', ['--config', withDir], new RegExp(`^sysbackup-pick: ${join(withDir, 'pickers.d/20-subdir')}: is a directory, not an executable file`)],
    ['dangling symlink in pickers.d', ['--config', dangling], new RegExp(`^sysbackup-pick: ${join(dangling, 'pickers.d/20-gone')}: dangling symlink \\(its target \\.\\./missing-picker does not exist\\)`)],
    ['missing conf', ['--config', join(nonExec, 'nonexistent')], /^sysbackup-pick: .*nonexistent\/conf: missing configuration file\n/],
    ['missing pickers.d', ['--config', noPickers], /pickers\.d: no pickers directory/],
    ['bad conf', ['--config', config(t, {}, '[pickers]\ntimeout = soon\n')], /conf:2: \[pickers\] timeout: "soon" is not a number/],
    ['--null without --stdin', ['--null', '--config', nonExec], /--null needs --stdin/],
    ['negative timeout', ['--timeout=-1', '--config', nonExec], /--timeout: -1 is negative/],
    ['stray argument', ['/etc', '--config', nonExec], /unexpected argument "\/etc"/],
  ]
  for (const [what, argv, message] of cases) {
    const { status, io } = await run(argv)
    t.equal(status, 2, what)
    t.equal(io.out(), '', `${what}: no output`)
    t.match(io.err(), message, what)
    t.equal(io.err().split('\n').length, 2, `${what}: one line`)
  }
})

t.test('--help shows every option', async (t) => {
  const { status, io } = await run(['--help'])
  t.equal(status, 0)
  for (const option of [...pickStage.options.map((o) => o.name), 'help', 'version']) t.match(io.out(), `--${option}`)
  t.match(io.out(), /See sysbackup-pick\(1\)\.\n$/)
})

t.test('entries are described with lstat: a symlink among the picked paths is not followed for its own record', async (t) => {
  const dir = config(t, { '10-link': 'echo "$CONF/data/link"' })
  symlinkSync('etc/hosts', join(dir, 'data/link'))
  const { status, records } = await run(['--config', dir])
  t.equal(status, 0)
  const link = entries(records).find((r) => r.path === join(dir, 'data/link'))
  t.match(link, { type: 'symlink', target: 'etc/hosts', mode: '0777', storageId: `${lstatSync(join(dir, 'data/link')).dev}:${lstatSync(join(dir, 'data/link')).ino}` })
  t.match(entries(records).at(-1), { type: 'file', path: join(dir, 'data/etc/hosts') }, 'then its target')
})
