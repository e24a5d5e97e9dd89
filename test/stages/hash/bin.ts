import t from 'tap'
import { execFileSync, spawn, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Rec } from '../../../src/protocol/records.js'
import { hashStage } from '../../../src/stages/hash/hash-stage.js'
import { ROOT, runBin, runProcess } from '../../helpers/bin.js'
import { fileRecord, ndjson, pickStream } from '../../helpers/entries.js'
import { holdExclusiveLock, textOf } from '../../helpers/files.js'
import { parseRecords } from '../../helpers/io.js'

const FIXTURES = join(ROOT, 'test', 'fixtures', 'hash')
const fixture = (name: string) => readFileSync(join(FIXTURES, name))
const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex')
const NOBODY = 65534

/** A configuration directory with an empty conf, so no machine's /etc/backup is read. */
const top = t.testdir({ config: { conf: '' } })
const env = { S3_SYSBACKUP_CONFIG: join(top, 'config'), TZ: 'UTC' }

function hash(args: string[], stdin: string | Buffer, extra: { uid?: number, gid?: number, timeoutMs?: number } = {}) {
  return runBin('sysbackup-hash', args, { stdin, env, timeoutMs: 30_000, ...extra })
}

const files = (out: Rec[]) => out.filter((r) => r.type === 'file')

t.test('every record of a fixture without files passes through unchanged and in order', async (t) => {
  const state = join(t.testdir({}), 'state')
  const r = await hash(['--state-dir', state], fixture('passthrough.ndjson'))
  t.equal(r.status, 0)
  t.equal(r.stderr, '')
  const out = r.records()
  t.match(out[0], { type: 'header', producer: 'sysbackup-hash', protocol: 1 })
  t.same(out.slice(1, -1), parseRecords(fixture('passthrough.ndjson').toString('utf8')))
  t.match(out.at(-1), { type: 'trailer', producer: 'sysbackup-hash', ok: true, counts: { records: 7, files: 0 } })
})

t.test('malformed NDJSON: the line is named, exit 3, no trailer claims ok', async (t) => {
  const r = await hash(['--state-dir', join(t.testdir({}), 'state')], fixture('malformed.ndjson'))
  t.equal(r.status, 3)
  t.match(r.stderr, /^sysbackup-hash: stdin:3: invalid JSON \(.+\)\n$/)
  const out = r.records()
  t.notOk(out.some((x) => x.type === 'trailer' && x.producer === 'sysbackup-hash' && x.ok === true))
  t.match(out.at(-1), { type: 'trailer', producer: 'sysbackup-hash', ok: false, reason: /^stdin:3: invalid JSON/ })
})

t.test('an input without its upstream trailer: passed on, exit 1, trailer not ok', async (t) => {
  const r = await hash(['--state-dir', join(t.testdir({}), 'state')], fixture('no-trailer.ndjson'))
  t.equal(r.status, 1)
  t.match(r.stderr, 'sysbackup-hash: stdin: input ended at line 3 without the trailer of sysbackup-pick: the stream was cut off')
  const out = r.records()
  t.same(out.slice(1, -1), parseRecords(fixture('no-trailer.ndjson').toString('utf8')))
  t.match(out.at(-1), { type: 'trailer', ok: false, reason: /without the trailer of sysbackup-pick/ })
})

t.test('a file record without storageId: exit 3 naming the line', async (t) => {
  const r = await hash(['--state-dir', join(t.testdir({}), 'state')], fixture('no-storage-id.ndjson'))
  t.equal(r.status, 3)
  t.equal(r.stderr, 'sysbackup-hash: stdin:2: file record: "storageId" is not "<dev>:<ino>"\n')
})

t.test('cold then warm run as processes: the warm one reads no content', async (t) => {
  // Files of the checkout: old enough (ctime) to be cached at once.
  const paths = [
    ...readdirSync(join(ROOT, 'src', 'protocol')).map((n) => join(ROOT, 'src', 'protocol', n)),
    join(ROOT, 'package-lock.json'),
    join(ROOT, 'man', 'sysbackup-records.5'),
  ]
  for (const p of paths) t.ok(Date.now() - statSync(p).ctimeMs > 3000, `${p} settled (checked out more than 3 s ago)`)
  const input = ndjson(pickStream(paths.map((p) => fileRecord(p))))
  const state = join(t.testdir({}), 'state')
  const cold = await hash(['--state-dir', state], input)
  t.equal(cold.status, 0)
  const bytes = paths.reduce((n, p) => n + statSync(p).size, 0)
  t.match(cold.records().at(-1), { ok: true, counts: { files: paths.length, filesRead: paths.length, bytesRead: bytes, cacheSaved: paths.length } })
  t.same(files(cold.records()).map((f) => f.sha256), paths.map((p) => sha256(readFileSync(p))))
  const warm = await hash(['--state-dir', state], input)
  t.equal(warm.status, 0)
  t.match(warm.records().at(-1), { ok: true, counts: { files: paths.length, cacheHits: paths.length, filesRead: 0, bytesRead: 0 } })
  t.same(files(warm.records()), files(cold.records()))
  const forced = await hash(['--state-dir', state, '--no-cache'], input)
  t.match(forced.records().at(-1), { counts: { cacheHits: 0, filesRead: paths.length, bytesRead: bytes } })
})

t.test('files modified within the racy window are read again next run (racy timestamps are not cached)', async (t) => {
  const dir = t.testdir({ a: 'fresh', b: textOf(4000) })
  // An mtime a minute ahead is inside the window however slowly the runs
  // start on a loaded machine ("just now" would not be, after 2 s).
  const ahead = Date.now() / 1000 + 60
  for (const name of ['a', 'b']) utimesSync(join(dir, name), ahead, ahead)
  const input = ndjson(pickStream([fileRecord(join(dir, 'a')), fileRecord(join(dir, 'b'))]))
  const first = await hash(['--state-dir', join(dir, 'state')], input)
  t.match(first.records().at(-1), { counts: { filesRead: 2, notCached: 2, cacheSaved: 0 } })
  const second = await hash(['--state-dir', join(dir, 'state')], input)
  t.match(second.records().at(-1), { counts: { filesRead: 2, cacheHits: 0 } })
})

/** Whether uid nobody can reach the checkout (a clone under /root cannot be). */
function nobodyCanRun(): boolean {
  const probe = spawnSync(process.execPath, ['-e', `require('fs').accessSync(${JSON.stringify(join(ROOT, 'bin', 'sysbackup-hash.js'))})`], { uid: NOBODY, gid: NOBODY })
  return probe.status === 0
}

t.test('as nobody: an unreadable file is an error, a state dir it cannot write is one warning', { skip: nobodyCanRun() ? false : `uid ${NOBODY} cannot reach ${ROOT}` }, async (t) => {
  const dir = t.testdir({ secret: 'root only', public: 'anyone' })
  chmodSync(dir, 0o755)
  chmodSync(join(dir, 'secret'), 0o600)
  chmodSync(join(dir, 'public'), 0o644)
  const state = join(dir, 'state')
  mkdirSync(state, { mode: 0o755 })
  const input = ndjson(pickStream([fileRecord(join(dir, 'secret')), fileRecord(join(dir, 'public'))]))
  const r = await hash(['--state-dir', state], input, { uid: NOBODY, gid: NOBODY })
  t.equal(r.status, 1, 'an unreadable file makes the run incomplete')
  const out = r.records()
  t.match(out[2], { type: 'error', path: join(dir, 'secret'), code: 'EACCES', message: 'cannot open: EACCES (permission denied); not backed up' })
  t.match(out[3], { type: 'file', path: join(dir, 'public'), sha256: sha256('anyone'), lockedRead: true })
  const warnings = out.filter((x) => x.type === 'warning')
  t.equal(warnings.length, 1)
  t.match(warnings[0], { path: join(state, 'files-cache'), code: 'EACCES', message: /^files cache not saved: EACCES/ })
  t.match(out.at(-1), { ok: false, reason: '1 error(s)', counts: { unreadable: 1, filesRead: 1, warnings: 1, errors: 1 } })
  t.match(r.stderr, `sysbackup-hash: ${join(dir, 'secret')}: cannot open: EACCES (permission denied); not backed up\n`)
  t.same(readdirSync(state), [], 'nothing written')
})

t.test('a file under another process\'s exclusive flock: read unlocked after --lock-timeout', async (t) => {
  const dir = t.testdir({ 'db.sqlite': 'pages' })
  const path = join(dir, 'db.sqlite')
  await holdExclusiveLock(t, path, 5)
  const r = await hash(['--state-dir', join(dir, 'state'), '--lock-timeout', '0.3'], ndjson(pickStream([fileRecord(path)])))
  t.equal(r.status, 0)
  const out = r.records()
  t.match(out[2], { type: 'warning', path, code: 'EWOULDBLOCK', message: 'read without a shared lock (another process held an exclusive lock for 0.3 s)' })
  t.match(out[3], { type: 'file', path, sha256: sha256('pages'), lockedRead: false })
  t.match(out.at(-1), { ok: true, counts: { unlockedReads: 1, notCached: 1 } })
})

t.test('SIGTERM while waiting for a lock: stops at once, exit 130, trailer not ok', async (t) => {
  const dir = t.testdir({ held: 'x', next: 'y' })
  await holdExclusiveLock(t, join(dir, 'held'), 30)
  const child = spawn(process.execPath, [join(ROOT, 'bin', 'sysbackup-hash.js'), '--state-dir', join(dir, 'state'), '--lock-timeout', '60', '--jobs', '1'], {
    env: { ...process.env, ...env, NODE_OPTIONS: '' }, stdio: ['pipe', 'pipe', 'pipe'],
  })
  let stdout = ''
  const headerWritten = new Promise<void>((resolve) => child.stdout.on('data', (c: Buffer) => { stdout += c.toString('utf8'); resolve() }))
  child.stdin.end(ndjson(pickStream([fileRecord(join(dir, 'held')), fileRecord(join(dir, 'next'))])))
  // The header goes out as soon as the stage waits (here, for the lock).
  await headerWritten
  const stoppedAt = Date.now()
  child.kill('SIGTERM')
  const status = await new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)))
  t.equal(status, 130)
  t.ok(Date.now() - stoppedAt < 5000, 'did not wait out the 60 s lock timeout')
  const out = parseRecords(stdout)
  t.notOk(out.some((r) => r.type === 'file'), 'no file record was claimed')
  t.match(out.at(-1), { type: 'trailer', producer: 'sysbackup-hash', ok: false, reason: 'interrupted by SIGTERM' })
})

t.test('a FIFO or a directory in place of a picked file: an error, no hang', async (t) => {
  const dir = t.testdir({ pipe: 'was a file', folder: 'was a file', after: 'fine' })
  const recs = ['pipe', 'folder', 'after'].map((n) => fileRecord(join(dir, n)))
  rmSync(join(dir, 'pipe'))
  execFileSync('mkfifo', [join(dir, 'pipe')])
  rmSync(join(dir, 'folder'))
  mkdirSync(join(dir, 'folder'))
  const r = await hash(['--state-dir', join(dir, 'state')], ndjson(pickStream(recs)), { timeoutMs: 20_000 })
  t.equal(r.signal, null, 'not killed by the timeout')
  t.equal(r.status, 1)
  const out = r.records()
  t.match(out[2], { type: 'error', path: join(dir, 'pipe'), message: /it is now a FIFO/ })
  t.match(out[3], { type: 'error', path: join(dir, 'folder'), message: /it is now a directory/ })
  t.match(out[4], { type: 'file', path: join(dir, 'after'), sha256: sha256('fine') })
})

t.test('a file that vanished: a warning, not emitted, the stream goes on, exit 0', async (t) => {
  const dir = t.testdir({ gone: 'x', kept: 'y' })
  const recs = [fileRecord(join(dir, 'gone')), fileRecord(join(dir, 'kept'))]
  rmSync(join(dir, 'gone'))
  const r = await hash(['--state-dir', join(dir, 'state')], ndjson(pickStream(recs)))
  t.equal(r.status, 0)
  t.same(r.records().slice(2, -2).map((x) => x.type), ['warning', 'file'])
  t.match(r.stderr, `sysbackup-hash: warning: ${join(dir, 'gone')}: vanished since it was picked; not backed up\n`)
})

t.test('sysbackup-hash < big.ndjson | head -1: exit 0, quiet', async (t) => {
  const dir = t.testdir({ f: textOf(2000) })
  const rec = fileRecord(join(dir, 'f'))
  const body: Rec[] = []
  for (let i = 0; i < 20_000; i++) body.push(i % 4 === 0 ? rec : { type: 'x-filler', i, pad: 'p'.repeat(100) })
  writeFileSync(join(dir, 'big.ndjson'), ndjson(pickStream(body)))
  const script = `set -o pipefail; "${process.execPath}" bin/sysbackup-hash.js --state-dir "${join(dir, 'state')}" < "${join(dir, 'big.ndjson')}" | head -1`
  const r = await runProcess('bash', ['-c', script], { env })
  t.equal(r.status, 0)
  t.equal(r.stderr, '')
  t.equal(r.stdout.split('\n').length, 2, 'one line')
  t.match(JSON.parse(r.stdout), { type: 'header', producer: 'sysbackup-hash' })
})

t.test('--help lists every option and the man page', async (t) => {
  const r = await runBin('sysbackup-hash', ['--help'], { env })
  t.equal(r.status, 0)
  for (const option of hashStage.options) t.match(r.stdout, `--${option.name}`, `--${option.name}`)
  t.match(r.stdout, /See sysbackup-hash\(1\)\./)
})
