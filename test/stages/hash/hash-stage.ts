import t from 'tap'
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runStage } from '../../../src/cli/stage.js'
import type { Rec } from '../../../src/protocol/records.js'
import { FilesCache } from '../../../src/stages/hash/files-cache.js'
import { hashStage, makeHashStage } from '../../../src/stages/hash/hash-stage.js'
import { wallClockNs } from '../../../src/stages/hash/read-content.js'
import { fileRecord, pickStream } from '../../helpers/entries.js'
import { holdExclusiveLock, textOf } from '../../helpers/files.js'
import { testIO, type TestIO } from '../../helpers/io.js'

const sha256 = (bytes: Buffer | string) => createHash('sha256').update(bytes).digest('hex')
/** The stage with a clock 10 s ahead, so files the test just wrote count as settled. */
const stage = makeHashStage({ nowNs: () => wallClockNs() + 10_000_000_000n })

/** A configuration directory `parent/config` whose `conf` holds `text`. */
function configDir(parent: string, text: string): string {
  mkdirSync(join(parent, 'config'))
  writeFileSync(join(parent, 'config', 'conf'), text)
  return join(parent, 'config')
}

/** Used unless a test names its own, so no machine's /etc/backup is read. */
const EMPTY_CONFIG = configDir(t.testdir({}), '')

interface Result { status: number, io: TestIO, out: Rec[], trailer: Rec }

async function run(args: string[], input: Rec[] | string): Promise<Result> {
  const io = testIO(input, { S3_SYSBACKUP_CONFIG: EMPTY_CONFIG })
  const status = await runStage(stage, args, io)
  const out = io.records()
  return { status, io, out, trailer: out.at(-1)! }
}

const files = (out: Rec[]) => out.filter((r) => r.type === 'file')

t.test('cold then warm run: the warm run reads no file and gives the same hashes', async (t) => {
  const dir = t.testdir({ 'a.txt': textOf(10_000), 'b.txt': 'short', 'c.bin': '' })
  const big = Buffer.concat([Buffer.alloc(2_500_000, 1), Buffer.from(textOf(100))])
  writeFileSync(join(dir, 'd.img'), big)
  const input = pickStream(['a.txt', 'b.txt', 'c.bin', 'd.img'].map((n) => fileRecord(join(dir, n))))
  const state = join(dir, 'state')
  const cold = await run(['--state-dir', state], input)
  t.equal(cold.status, 0)
  t.match(cold.trailer, { type: 'trailer', producer: 'sysbackup-hash', ok: true, counts: {
    files: 4, filesRead: 4, cacheHits: 0, bytesRead: 10_000 + 5 + big.length, cacheLoaded: 0, cacheSaved: 4, notCached: 0,
  } })
  t.same(files(cold.out).map((r) => r.sha256), [sha256(textOf(10_000)), sha256('short'), sha256(''), sha256(big)])
  const warm = await run(['--state-dir', state], input)
  t.equal(warm.status, 0)
  t.match(warm.trailer.counts, { files: 4, filesRead: 0, bytesRead: 0, cacheHits: 4, cacheLoaded: 4, cacheSaved: 4 })
  t.same(files(warm.out), files(cold.out), 'identical records')
  t.equal(warm.io.err(), '', 'nothing on stderr')
})

t.test('--no-cache reads every file again and still writes the cache', async (t) => {
  const dir = t.testdir({ f: 'x', g: 'y' })
  const input = pickStream([fileRecord(join(dir, 'f')), fileRecord(join(dir, 'g'))])
  const state = join(dir, 'state')
  await run(['--state-dir', state], input)
  rmSync(join(state, 'files-cache'))
  const forced = await run(['--state-dir', state, '--no-cache'], input)
  t.match(forced.trailer.counts, { filesRead: 2, cacheHits: 0, cacheSaved: 2 })
  t.ok(existsSync(join(state, 'files-cache')), 'a fresh cache was written')
  t.match((await run(['--state-dir', state], input)).trailer.counts, { cacheHits: 2 })
})

t.test('a complete run drops entries of files it did not see; a cut-off or failed one keeps them', async (t) => {
  const dir = t.testdir({ a: 'a', b: 'b' })
  const a = fileRecord(join(dir, 'a'))
  const b = fileRecord(join(dir, 'b'))
  const state = join(dir, 'state')
  await run(['--state-dir', state], pickStream([a, b]))
  const cut = await run(['--state-dir', state], pickStream([a]).slice(0, -1))
  t.equal(cut.status, 1, 'cut-off input: exit 1')
  t.match(cut.trailer, { ok: false, reason: /without the trailer of sysbackup-pick/, counts: { cacheSaved: 2 } })
  const failedUpstream = await run(['--state-dir', state], pickStream([a], false))
  t.equal(failedUpstream.status, 0)
  t.match(failedUpstream.trailer, { ok: false, reason: /^upstream: sysbackup-pick/, counts: { cacheSaved: 2 } }, 'an upstream failure keeps them too')
  const complete = await run(['--state-dir', state], pickStream([a]))
  t.match(complete.trailer.counts, { cacheHits: 1, cacheSaved: 1 })
  const { cache } = await FilesCache.load(join(state, 'files-cache'))
  t.equal(cache.loadedEntries, 1)
})

t.test('configuration: [state] dir and [content] lock_timeout, overridden by options', async (t) => {
  const dir = t.testdir({ f: 'locked' })
  const path = join(dir, 'f')
  const config = configDir(dir, '[state]\ndir = my-state\n[content]\nlock_timeout = 0.2\n')
  await holdExclusiveLock(t, path, 10)
  const input = pickStream([fileRecord(path)])
  const fromConfig = await run(['--config', config], input)
  t.ok(existsSync(join(config, 'my-state', 'files-cache')), 'relative state dir taken from the configuration directory')
  t.match(fromConfig.out[2], { type: 'warning', message: /exclusive lock for 0\.2 s/ })
  t.match(files(fromConfig.out)[0], { lockedRead: false, sha256: sha256('locked') })
  const overridden = await run(['--config', config, '--lock-timeout', '0.1', '--state-dir', join(dir, 'other')], input)
  t.match(overridden.out[2], { type: 'warning', message: /exclusive lock for 0\.1 s/ })
  t.ok(existsSync(join(dir, 'other', 'files-cache')))
  t.equal(overridden.status, 0, 'an unlocked read is a warning, not an error')
  t.match(overridden.trailer, { ok: true, counts: { unlockedReads: 1, warnings: 1 } })
})

t.test('a corrupted or truncated cache: one warning, correct hashes, a good cache afterwards', async (t) => {
  const dir = t.testdir({ f: textOf(3000), g: 'gg' })
  const input = pickStream([fileRecord(join(dir, 'f')), fileRecord(join(dir, 'g'))])
  const state = join(dir, 'state')
  const cacheFile = join(state, 'files-cache')
  await run(['--state-dir', state], input)
  const good = readFileSync(cacheFile, 'latin1')
  for (const [name, damaged] of [
    ['wrong hash digit', good.replace(sha256('gg'), sha256('hh'))],
    ['truncated', good.slice(0, good.length / 2)],
    ['foreign', 'not a cache\n'],
  ] as const) {
    writeFileSync(cacheFile, damaged)
    const r = await run(['--state-dir', state], input)
    t.equal(r.status, 0, name)
    t.match(r.out[1], { type: 'warning', path: cacheFile, message: /^files cache (is corrupted|is truncated|is not a files cache).*; it is ignored and every file is read$/ }, name)
    t.same(files(r.out).map((f) => f.sha256), [sha256(textOf(3000)), sha256('gg')], `${name}: right hashes`)
    t.match(r.trailer.counts, { warnings: 1, filesRead: 2, cacheHits: 0, cacheSaved: 2 })
    t.equal((await FilesCache.load(cacheFile)).problem, undefined, `${name}: rewritten whole`)
  }
})

t.test('a state directory that cannot be written: one warning, the run is still right', async (t) => {
  const dir = t.testdir({ f: 'content', blocker: 'a file where the state dir should be' })
  const r = await run(['--state-dir', join(dir, 'blocker', 'state')], pickStream([fileRecord(join(dir, 'f'))]))
  t.equal(r.status, 0)
  t.match(files(r.out)[0], { sha256: sha256('content') })
  const warnings = r.out.filter((x) => x.type === 'warning')
  t.equal(warnings.length, 1)
  t.match(warnings[0], { path: join(dir, 'blocker', 'state', 'files-cache'), message: /^files cache not saved: E[A-Z]+ \(.*\); the next run reads these files again$/ })
  t.match(r.trailer, { ok: true, counts: { cacheSaved: 0, warnings: 1 } })
})

t.test('vanished, replaced by a directory, replaced by a FIFO: the stream goes on', async (t) => {
  const dir = t.testdir({ gone: 'g', 'now-dir': 'd', 'now-fifo': 'f', kept: 'k' })
  const recs = ['gone', 'now-dir', 'now-fifo', 'kept'].map((n) => fileRecord(join(dir, n)))
  rmSync(join(dir, 'gone'))
  rmSync(join(dir, 'now-dir'))
  execFileSync('mkdir', [join(dir, 'now-dir')])
  rmSync(join(dir, 'now-fifo'))
  execFileSync('mkfifo', [join(dir, 'now-fifo')])
  const r = await run(['--state-dir', join(dir, 'state')], pickStream([...recs, { type: 'x-tail' }]))
  t.equal(r.status, 1, 'errors make the run incomplete')
  t.same(r.out.slice(2, -2).map((x) => `${x.type}:${String(x.path ?? '')}`), [
    `warning:${join(dir, 'gone')}`, `error:${join(dir, 'now-dir')}`, `error:${join(dir, 'now-fifo')}`, `file:${join(dir, 'kept')}`, 'x-tail:',
  ])
  t.match(r.out[4], { message: 'is no longer a regular file (it is now a FIFO); not backed up' })
  t.match(r.trailer, { ok: false, reason: '2 error(s)', counts: { files: 4, vanished: 1, notRegular: 2, filesRead: 1 } })
  t.equal(r.io.err().split('\n').filter(Boolean).length, 3, 'one stderr line per problem')
})

t.test('a file record without storageId stops the stage naming its line', async (t) => {
  const dir = t.testdir({ f: 'x' })
  const bad = { ...fileRecord(join(dir, 'f')), storageId: undefined }
  const r = await run(['--state-dir', join(dir, 'state')], pickStream([{ type: 'x' }, bad]))
  t.equal(r.status, 3)
  t.equal(r.io.err(), 'sysbackup-hash: stdin:3: file record: "storageId" is not "<dev>:<ino>"\n')
  t.match(r.trailer, { ok: false })
})

t.test('usage errors: exit 2, nothing written', async (t) => {
  for (const args of [['--jobs', '0'], ['--jobs', '2.5'], ['--jobs', '1000'], ['--lock-timeout=-1'], ['extra'], ['--state-dir']]) {
    const r = await run(args, pickStream([]))
    t.equal(r.status, 2, args.join(' '))
    t.equal(r.io.out(), '', `${args.join(' ')}: no output`)
    t.match(r.io.err(), /^sysbackup-hash: (option --|unexpected argument)/)
  }
  const r = await run(['--config', '/nonexistent/config'], pickStream([]))
  t.equal(r.status, 2)
  t.equal(r.io.err(), 'sysbackup-hash: /nonexistent/config/conf: missing configuration file\n')
})

t.test('--help lists every option', async (t) => {
  const io = testIO('')
  t.equal(await runStage(hashStage, ['--help'], io), 0)
  for (const option of hashStage.options) t.match(io.out(), `--${option.name}`)
  t.match(io.out(), /--help/)
  t.match(io.out(), /See sysbackup-hash\(1\)\.\n$/)
})

t.test('--jobs 1 and many jobs give the same output, in input order', async (t) => {
  const names = Array.from({ length: 30 }, (_, i) => `f${i}`)
  const dir = t.testdir(Object.fromEntries(names.map((n, i) => [n, textOf(i * 997)])))
  const input = pickStream(names.flatMap((n) => [fileRecord(join(dir, n)), { type: 'marker', n }]))
  const one = await run(['--jobs', '1', '--no-cache', '--state-dir', join(dir, 's1')], input)
  const many = await run(['--jobs', '16', '--no-cache', '--state-dir', join(dir, 's2')], input)
  const body = (r: Result) => r.out.slice(1, -1)
  t.same(body(many), body(one))
  t.same(files(many.out).map((f) => f.sha256), names.map((_, i) => sha256(textOf(i * 997))))
})
