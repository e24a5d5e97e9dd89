import t, { type Test } from 'tap'
import { execFileSync, spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { decodePath, pathBytes } from '../../../src/protocol/path-codec.js'
import type { Rec } from '../../../src/protocol/records.js'
import { ROOT, runBin, runProcess } from '../../helpers/bin.js'
import { parseRecords } from '../../helpers/io.js'

const BIN = join(ROOT, 'bin/sysbackup-pick.js')

function scratch(t: Test): string {
  if (!existsSync(t.testdirName)) t.testdir({})
  const dir = mkdtempSync(join(t.testdirName, 'd-'))
  chmodSync(dir, 0o755) // mkdtemp makes it 0700; the unprivileged test needs to get in
  return dir
}

/** A configuration directory with the given pickers (shell script bodies). */
function config(t: Test, pickers: Record<string, string>): string {
  const dir = scratch(t)
  writeFileSync(join(dir, 'conf'), '')
  mkdirSync(join(dir, 'pickers.d'))
  for (const [name, body] of Object.entries(pickers)) writeFileSync(join(dir, 'pickers.d', name), `#!/bin/sh\n${body}\n`, { mode: 0o755 })
  return dir
}

const entries = (recs: Rec[]) => recs.filter((r) => ['file', 'dir', 'symlink', 'special'].includes(r.type))

/** Whether process `pid` is running (a zombie is not). */
function alive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'))
  } catch {
    return false
  }
}

t.test('names with spaces, newlines and invalid UTF-8 round-trip byte for byte through the NDJSON', async (t) => {
  const data = scratch(t)
  const names = [Buffer.from('plain.conf'), Buffer.from('with space'), Buffer.from('new\nline'), Buffer.from('tab\tand\\backslash'),
    Buffer.from([0x6c, 0x61, 0x74, 0x69, 0x6e, 0x31, 0xe9]), Buffer.from([0xff, 0xfe, 0x0a, 0x01]), Buffer.from('ünïcødé ✓')]
  for (const name of names) writeFileSync(Buffer.concat([Buffer.from(data + '/'), name]), name)
  const dir = config(t, { '10-find': `find '${data}' -type f -print0` })
  const result = await runBin('sysbackup-pick', ['--config', dir])
  t.equal(result.status, 0, result.stderr)
  t.equal(result.stderr, '')
  const files = entries(result.records()).filter((r) => r.type === 'file')
  const onDisk = readdirSync(data, { encoding: 'buffer' })
  t.equal(files.length, onDisk.length)
  for (const name of onDisk) {
    const full = Buffer.concat([Buffer.from(data + '/'), name])
    const rec = files.find((r) => pathBytes(decodePath(r)).equals(full))
    t.ok(rec, `found ${JSON.stringify(name.toString('latin1'))}`)
    t.equal(rec?.size, name.length)
  }
  t.match(result.records().at(-1), { type: 'trailer', ok: true, counts: { pickers: 1, files: names.length } })
})

t.test('FIFOs, sockets and devices in the picker output: special records, no hang', async (t) => {
  const data = scratch(t)
  execFileSync('mkfifo', [join(data, 'fifo')])
  execFileSync('python3', ['-c', 'import socket; socket.socket(socket.AF_UNIX).bind("sock")'], { cwd: data })
  const dir = config(t, { '10-specials': `printf '%s\\n' '${data}/fifo' '${data}/sock' /dev/null /dev/zero` })
  const result = await runBin('sysbackup-pick', ['--config', dir], { timeoutMs: 20_000 })
  t.equal(result.status, 0, result.stderr)
  const specials = entries(result.records()).filter((r) => r.type === 'special')
  t.match(specials, [
    { path: join(data, 'fifo'), kind: 'fifo' },
    { path: join(data, 'sock'), kind: 'socket' },
    { path: '/dev/null', kind: 'char', rdev: 259 },
    { path: '/dev/zero', kind: 'char', rdev: 261 },
  ])
})

t.test('ACLs set with setfacl: a file ACL and a directory default ACL', async (t) => {
  const data = scratch(t)
  mkdirSync(join(data, 'shared'))
  writeFileSync(join(data, 'shared/report'), 'r')
  writeFileSync(join(data, 'plain'), 'p')
  execFileSync('setfacl', ['-m', 'u:nobody:rw,g:nogroup:r', join(data, 'shared/report')])
  execFileSync('setfacl', ['-d', '-m', 'g:nogroup:rwx', join(data, 'shared')])
  const dir = config(t, { '10-acl': `find '${data}' -print0` })
  const result = await runBin('sysbackup-pick', ['--config', dir])
  t.equal(result.status, 0, result.stderr)
  const byPath = new Map(entries(result.records()).map((r) => [r.path, r]))
  t.equal(byPath.get(join(data, 'shared/report'))?.acl, 'user::rw-,user:nobody:rw-,group::r--,group:nogroup:r--,mask::rw-,other::r--')
  t.equal(byPath.get(join(data, 'shared'))?.defaultAcl, 'user::rwx,group::r-x,group:nogroup:rwx,mask::rwx,other::r-x')
  t.equal(byPath.get(join(data, 'shared'))?.acl, undefined, 'a default ACL alone adds no access ACL')
  t.notOk(byPath.get(join(data, 'plain'))?.acl)
  t.match(result.records().at(-1), { counts: { acls: 2 } })
})

t.test('records flow while the picker is still running', async (t) => {
  const data = scratch(t)
  writeFileSync(join(data, 'early'), '')
  writeFileSync(join(data, 'late'), '')
  const go = join(data, 'go')
  // Waits up to 20 s for the test to say go: if the first record is held back, the test fails.
  const dir = config(t, { '10-slow': `echo '${data}/early'; i=0; while [ ! -e '${go}' ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; echo '${data}/late'` })
  const child = spawn(process.execPath, [BIN, '--config', dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
  let out = ''
  let sawEarlyBeforeGo = false
  child.stdout.on('data', (c: Buffer) => {
    out += c.toString()
    if (!existsSync(go) && out.includes(`"path":"${data}/early"`)) {
      sawEarlyBeforeGo = true
      writeFileSync(go, '')
    }
  })
  const status = await new Promise<number | null>((resolve) => child.on('close', resolve))
  t.ok(sawEarlyBeforeGo, 'the first record came out before the picker went on')
  t.equal(status, 0)
  t.ok(parseRecords(out).some((r) => r.path === join(data, 'late')))
})

t.test('| head -1: quiet, exit 0, pickers killed', async (t) => {
  const data = scratch(t)
  for (let i = 0; i < 300; i++) writeFileSync(join(data, `f${i}`), '')
  const pidFile = join(data, 'pid')
  // Prints its paths, then hangs: only being killed ends it.
  const dir = config(t, { '10-lots': `echo $$ > '${pidFile}'; find '${data}' -print0; exec sleep 1000` })
  const result = await runProcess('bash', ['-c', `set -o pipefail; node '${BIN}' --config '${dir}' | head -1; echo "status=\${PIPESTATUS[0]}" >&2`], { timeoutMs: 30_000 })
  t.equal(result.signal, null, 'finished by itself')
  t.match(JSON.parse(result.stdout), { type: 'header', producer: 'sysbackup-pick' })
  t.equal(result.stderr, 'status=0\n', 'no message, exit 0')
  t.notOk(alive(Number(readFileSync(pidFile, 'utf8'))), 'the picker was killed')
})

t.test('SIGTERM: the picker is killed, exit 130, the trailer says interrupted', async (t) => {
  const pidFile = join(scratch(t), 'pid')
  const dir = config(t, { '10-hang': `echo $$ > '${pidFile}'; echo /etc/hosts; exec sleep 1000` })
  const child = spawn(process.execPath, [BIN, '--config', dir], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_OPTIONS: '' } })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  const closed = new Promise<number | null>((resolve) => child.on('close', resolve))
  for (let i = 0; i < 200 && !out.includes('"/etc/hosts"'); i++) await sleep(50)
  const pickerPid = Number(readFileSync(pidFile, 'utf8'))
  child.kill('SIGTERM')
  t.equal(await closed, 130)
  t.match(parseRecords(out).at(-1), { type: 'trailer', ok: false, reason: 'interrupted by SIGTERM' })
  await sleep(100)
  t.notOk(alive(pickerPid), 'the picker was killed')
})

t.test('as an unprivileged user: an unreadable directory is an error record, exit 1', async (t) => {
  const data = scratch(t)
  mkdirSync(join(data, 'secret'), { mode: 0o700 })
  writeFileSync(join(data, 'secret/key'), 'k')
  writeFileSync(join(data, 'public'), 'p')
  const dir = config(t, { '10-mixed': `echo '${data}/secret/key'; echo '${data}/public'` })
  // `env -u NODE_OPTIONS`: tap's coverage hook, which the child could not write as nobody.
  const result = await runProcess('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', 'env', '-u', 'NODE_OPTIONS', process.execPath, BIN, '--config', dir])
  t.equal(result.status, 1, result.stderr)
  t.same(entries(result.records()).filter((r) => r.type === 'file').map((r) => r.path), [join(data, 'public')], 'the readable file is still recorded')
  t.notOk(entries(result.records()).some((r) => r.path === join(data, 'secret')), 'nothing of the unreachable path, not even its ancestors')
  t.match(result.records().find((r) => r.type === 'error'), { code: 'EACCES', path: join(data, 'secret/key'), message: /permission denied/ })
  t.match(result.stderr, `sysbackup-pick: ${join(data, 'secret/key')}: permission denied`)
})

t.test('--stdin in a shell pipeline, with and without --null', async (t) => {
  const data = scratch(t)
  writeFileSync(join(data, 'a b'), '')
  writeFileSync(join(data, 'c'), '')
  const dir = config(t, {})
  for (const [find, flag] of [['-print', ''], ['-print0', '--null']] as const) {
    const result = await runProcess('sh', ['-c', `find '${data}' -type f ${find} | node '${BIN}' --stdin ${flag} --config '${dir}'`])
    t.equal(result.status, 0, result.stderr)
    t.same(entries(result.records()).filter((r) => r.type === 'file').map((r) => r.path).sort(), [join(data, 'a b'), join(data, 'c')], `find ${find}`)
  }
})

t.test('configuration errors as a process: exit 2, one line, no output', async (t) => {
  const dir = config(t, {})
  mkdirSync(join(dir, 'pickers.d/subdir'))
  const bad = await runBin('sysbackup-pick', ['--config', dir])
  t.equal(bad.status, 2)
  t.equal(bad.stdout, '')
  t.equal(bad.stderr, `sysbackup-pick: ${join(dir, 'pickers.d/subdir')}: is a directory, not an executable file; pickers.d may hold only executable files or symlinks to them (names beginning with "." are ignored)\n`)
  const missing = await runBin('sysbackup-pick', ['--config', join(dir, 'nope')])
  t.equal(missing.status, 2)
  t.equal(missing.stderr, `sysbackup-pick: ${join(dir, 'nope')}/conf: missing configuration file\n`)
})

t.test('the demo configuration picks the demo tree', async (t) => {
  const result = await runBin('sysbackup-pick', ['--config', 'examples/demo'], { cwd: ROOT })
  t.equal(result.status, 0, result.stderr)
  const tree = join(ROOT, 'examples/demo/tree')
  const recorded = entries(result.records()).filter((r) => String(r.path).startsWith(tree + '/'))
  t.same(recorded.filter((r) => r.type === 'file').map((r) => String(r.path).slice(tree.length)).sort(), [
    '/etc/demo/conf.d/10-retention.conf', '/etc/demo/demo.conf', '/usr/local/bin/demo-report', '/var/lib/demo/notes.txt',
  ])
  t.match(recorded.find((r) => r.path === join(tree, 'usr/local/bin/report')), { type: 'symlink', target: 'demo-report' })
  t.match(recorded.find((r) => r.path === join(tree, 'usr/local/bin/demo-report')), { mode: '0755' })
  t.ok(recorded.some((r) => r.type === 'dir' && r.path === join(tree, 'etc/demo/conf.d')), 'nested directory')
})
