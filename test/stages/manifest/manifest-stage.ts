/**
 * sysbackup-manifest in-process (runStage) against a local directory store
 * and an Object-Lock bucket on moto: what the manifest holds, when it is
 * complete, and when nothing is uploaded at all.
 */
import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { runStage } from '../../../src/cli/stage.js'
import { decodePath, pathBytes } from '../../../src/protocol/path-codec.js'
import type { Rec } from '../../../src/protocol/records.js'
import type { Store } from '../../../src/store/store.js'
import { keyTimestamp } from '../../../src/stages/run-identity.js'
import { makeManifestStage } from '../../../src/stages/manifest/manifest-stage.js'
import { ndjson } from '../../helpers/entries.js'
import { testIO, type TestIO } from '../../helpers/io.js'
import { DAY, dirEntry, fileEntry, nested, readManifest, snapshotRecord, uploaded, versionKeys } from '../../helpers/manifest-inputs.js'
import { LOCAL_STORE, motoStore, type FreshStore, type StoreKind } from '../../helpers/store-kinds.js'

// A minute ago: the upstream stages' start times below (RUN_TIME + 1 s, + 5 s) must lie
// before the manifest stage's own start, or the header's earliest start is its own
// (a run within the second the file was loaded failed that way).
const RUN_TIME = new Date(Math.floor(Date.now() / 1000) * 1000 - 60_000)
const R = new Date(RUN_TIME.getTime() + 14 * DAY)
const SLACK = new Date(R.getTime() + 7 * DAY)
const STAMP = keyTimestamp(RUN_TIME)
const COMPLETE_KEY = `manifests/testhost/${STAMP}.ndjson.gz`
const INCOMPLETE_KEY = `manifests/testhost/${STAMP}.incomplete.ndjson.gz`
const RUN_ARGS = ['--host', 'testhost', '--run-time', RUN_TIME.toISOString()]
const UPLOAD_CHAIN = ['sysbackup-upload', 'sysbackup-hash', 'sysbackup-pick']

const stage = makeManifestStage()

interface Result { status: number, io: TestIO, out: Rec[], manifest: Rec | undefined, trailer: Rec }

async function run(s: FreshStore, stdin: Rec[] | string, args: string[] = []): Promise<Result> {
  const io = testIO(stdin)
  const status = await runStage(stage, ['--config', s.configDir, '--tmp-dir', tmpDir(s), ...RUN_ARGS, ...args], io)
  const out = io.records()
  return { status, io, out, manifest: out.find((r) => r.type === 'manifest'), trailer: out.at(-1)! }
}

/** A spill directory of the test's own, so it can be checked empty afterwards. */
function tmpDir(s: FreshStore): string {
  return join(s.configDir, '..')
}

function writeInput(t: Test, name: string, records: Rec[] | string): string {
  const path = join(t.testdirName, name)
  writeFileSync(path, typeof records === 'string' ? records : ndjson(records))
  return path
}

const sha256 = (text: string) => createHash('sha256').update(text).digest('hex')
const entryPaths = (records: Rec[]) => records.filter((r) => ['file', 'dir', 'symlink', 'special'].includes(r.type)).map((r) => pathBytes(decodePath(r)))

/** An upload stream and a snapshot stream of a small tree, with everything really stored. */
async function goodInputs(store: Store): Promise<{ files: Rec[], snaps: Rec[] }> {
  const files = nested(UPLOAD_CHAIN, [
    dirEntry('/etc'),
    await uploaded(store, fileEntry('/etc/hosts', '127.0.0.1 localhost\n'), '127.0.0.1 localhost\n', SLACK),
    await uploaded(store, fileEntry('/etc/motd', 'hello\n'), 'hello\n', SLACK),
    { type: 'symlink', path: '/etc/localtime', target: '/usr/share/zoneinfo/UTC', mode: '0777', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: '1:9', nlink: 1 },
    { type: 'warning', stage: 'sysbackup-pick', message: 'no such file or directory', path: '/etc/gone', code: 'ENOENT' },
  ], { startedAt: new Date(RUN_TIME.getTime() + 5000), counts: { 'req.PutObject': 2, 'req.HeadObject': 1 } })
  const snaps = nested(['sysbackup-snap'], [await snapshotRecord(store, '10-db', 'dump', R, STAMP)],
    { startedAt: new Date(RUN_TIME.getTime() + 1000), counts: { 'req.PutObject': 1 } })
  return { files, snaps }
}

const kinds: StoreKind[] = [LOCAL_STORE, motoStore(t)]

for (const kind of kinds) {
  t.test(kind.name, async (t) => {
    const fresh = (t: Test) => kind.fresh(t)

    t.test('a complete run: the manifest object, its header, sections and trailer; locked until R', async (t) => {
      const s = await fresh(t)
      const store = await s.open()
      const { files, snaps } = await goodInputs(store)
      const r = await run(s, files, ['-', writeInput(t, 'snaps.ndjson', snaps)])
      t.equal(r.status, 0, r.io.err())
      t.equal(r.io.err(), '')
      t.match(r.out.map((x) => x.type), ['header', 'manifest', 'trailer'], 'stdout: header, manifest, trailer')
      t.match(r.manifest, {
        key: COMPLETE_KEY, complete: true, retainUntil: R.toISOString(),
        counts: { entries: 4, files: 2, dirs: 1, symlinks: 1, special: 0, snapshots: 1, errors: 0, warnings: 1, bytes: 26, duplicates: 0 },
        requests: { PutObject: 4, HeadObject: 1 },
      })
      t.notOk('reason' in r.manifest!)
      t.same((r.manifest!.stages as Rec[]).map((x) => [x.producer, x.source, x.ok]), [
        ['sysbackup-upload', 'stdin', true], ['sysbackup-hash', 'stdin', true], ['sysbackup-pick', 'stdin', true],
        ['sysbackup-snap', join(t.testdirName, 'snaps.ndjson'), true],
      ])
      t.match(r.trailer, { producer: 'sysbackup-manifest', ok: true, counts: { inputs: 2, entries: 4, snapshots: 1, sortRuns: 0, 'req.PutObject': 1 } })

      const { text, records, versionId } = await readManifest(store, COMPLETE_KEY)
      t.equal(versionId, r.manifest!.versionId)
      const lines = text.split('\n')
      t.equal(lines.pop(), '', 'every line ends in a newline')
      t.match(records[0], {
        type: 'header', producer: 'sysbackup-manifest', protocol: 1, host: 'testhost', runTime: RUN_TIME.toISOString(),
        startedAt: new Date(RUN_TIME.getTime() + 1000).toISOString(), retainUntil: R.toISOString(),
        lockMode: 'GOVERNANCE', daysRetained: 14, store: store.id,
      })
      t.ok(typeof records[0]!.finishedAt === 'string')
      t.same(records.map((x) => x.type), ['header', 'dir', 'file', 'symlink', 'file', 'snapshot', 'warning', 'stage', 'stage', 'stage', 'stage', 'trailer'])
      t.same(entryPaths(records).map(String), ['/etc', '/etc/localtime', '/etc/motd', '/etc/hosts'].sort())
      t.match(records.find((x) => x.path === '/etc/hosts'), { key: `content/${sha256('127.0.0.1 localhost\n')}`, retainUntil: SLACK.toISOString() })
      t.match(records.find((x) => x.type === 'stage' && x.producer === 'sysbackup-snap'), {
        source: join(t.testdirName, 'snaps.ndjson'), header: { producer: 'sysbackup-snap' }, trailer: { ok: true, counts: { 'req.PutObject': 1 } },
      })
      const trailer = records.at(-1)!
      t.match(trailer, { type: 'trailer', producer: 'sysbackup-manifest', ok: true, counts: r.manifest!.counts })
      t.equal(trailer.digest, `sha256:${sha256(lines.slice(0, -1).map((l) => l + '\n').join(''))}`, 'the digest covers every line before the trailer')
      t.equal(trailer.digest, r.manifest!.digest)

      const info = (await store.head(COMPLETE_KEY, versionId))!
      t.equal(info.lockMode, 'GOVERNANCE')
      t.equal(info.retainUntil?.toISOString(), R.toISOString(), 'the manifest is locked until R')
      t.same(info.metadata, { complete: 'true', entries: '4', files: '2', bytes: '26', digest: trailer.digest })
      t.same(readdirSync(tmpDir(s)).filter((n) => n.startsWith('sysbackup-manifest-')), [], 'no spill directory left')
    })

    t.test('entries sorted by path bytes, not UTF-16: external sort gives the same bytes as in memory', async (t) => {
      const s = await fresh(t)
      const store = await s.open()
      const names: (string | Buffer)[] = [
        '/d/\uFFFD', '/d/\u{1F600}', '/d/z', '/d/a', '/d-x', '/d', '/d/a/b', '/d/É', '/d/e\u0301',
        Buffer.from([0x2f, 0x64, 0x2f, 0xff, 0x0a]), Buffer.from([0x2f, 0x64, 0x2f, 0x80]), '/d/new\nline',
      ]
      const body: Rec[] = []
      for (let i = 0; i < 300; i++) body.push(dirEntry(`/many/${String(i * 7919 % 300).padStart(3, '0')}`))
      for (const [i, name] of names.entries()) body.push(await uploaded(store, fileEntry(name, `c${i}`), `c${i}`, SLACK))
      const input = writeInput(t, 'in.ndjson', nested(UPLOAD_CHAIN, body))
      const memory = join(t.testdirName, 'memory.ndjson')
      const spilled = join(t.testdirName, 'spilled.ndjson')
      const a = await run(s, '', [input, '--dry-run', '--output', memory])
      const b = await run(s, '', [input, '--dry-run', '--output', spilled, '--sort-memory', '0.002'])
      t.equal(a.status, 0, a.io.err())
      t.equal(b.status, 0, b.io.err())
      t.equal(a.trailer.counts && (a.trailer.counts as Record<string, number>).sortRuns, 0)
      t.ok((b.trailer.counts as Record<string, number>).sortRuns! > 10, `spilled ${(b.trailer.counts as Record<string, number>).sortRuns} sorted runs`)
      // Only the times of the two runs, and so the digests, may differ.
      const strip = (text: string) => text.replace(/"(startedAt|finishedAt|digest)":"[^"]*"/g, '')
      t.equal(strip(readFileSync(spilled, 'utf8')), strip(readFileSync(memory, 'utf8')), 'the same manifest either way')
      const paths = entryPaths(readFileSync(memory, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Rec))
      t.same(paths, [...paths].sort(Buffer.compare), 'in byte order')
      const at = (name: string) => paths.findIndex((p) => p.equals(Buffer.from(name)))
      t.ok(at('/d/\uFFFD') < at('/d/\u{1F600}'), 'U+FFFD (EF BF BD) before an emoji (F0 …), which UTF-16 order would reverse')
      t.ok(at('/d-x') < at('/d') === false && at('/d') < at('/d-x') && at('/d-x') < at('/d/a'), '"-" sorts before "/"')
      t.equal(paths.at(-1)!.toString('latin1'), '/many/299')
      t.ok(paths.some((p) => p.equals(Buffer.from([0x2f, 0x64, 0x2f, 0xff, 0x0a]))), 'a name that is not UTF-8 is kept exactly')
      t.same(await versionKeys(store, 'manifests/'), [], '--dry-run stores nothing')
      t.match(a.manifest, { key: COMPLETE_KEY, complete: true, dryRun: true })
      t.notOk('versionId' in a.manifest!)
    })

    t.test('two inputs merged; a path in both is kept once, from the first input, with a warning', async (t) => {
      const s = await fresh(t)
      const store = await s.open()
      const shared = await uploaded(store, fileEntry('/srv/shared', 'one'), 'one', SLACK)
      const first = nested(UPLOAD_CHAIN, [shared, await uploaded(store, fileEntry('/srv/a', 'a'), 'a', SLACK)])
      const second = nested(UPLOAD_CHAIN, [await uploaded(store, fileEntry('/srv/b', 'b'), 'b', SLACK), { ...shared, mode: '0600' }])
      const r = await run(s, '', [writeInput(t, 'first.ndjson', first), writeInput(t, 'second.ndjson', second)])
      t.equal(r.status, 0, 'a duplicate is a warning, not an error')
      t.match(r.manifest, { complete: true, counts: { entries: 3, duplicates: 1, warnings: 1 } })
      const { records } = await readManifest(store, COMPLETE_KEY)
      t.same(entryPaths(records).map(String), ['/srv/a', '/srv/b', '/srv/shared'])
      t.equal(records.find((x) => x.path === '/srv/shared')!.mode, '0644', 'the first input\'s entry is kept')
      t.match(records.filter((x) => x.type === 'warning'), [{
        stage: 'sysbackup-manifest', path: '/srv/shared',
        message: `duplicate entry: kept the one from ${join(t.testdirName, 'first.ndjson')}:4, dropped a different one from ${join(t.testdirName, 'second.ndjson')}:5`,
      }])
      t.match(r.io.err(), /^sysbackup-manifest: warning: \/srv\/shared: duplicate entry/)
    })

    t.test('an input cut off (no trailer): the manifest is stored at the .incomplete key, exit 1', async (t) => {
      const s = await fresh(t)
      const store = await s.open()
      const { files, snaps } = await goodInputs(store)
      const cut = files.slice(0, -1) // sysbackup-pick's and sysbackup-hash's trailers came; the upload's did not
      const r = await run(s, cut, ['-', writeInput(t, 'snaps.ndjson', snaps)])
      t.equal(r.status, 1)
      t.match(r.manifest, { key: INCOMPLETE_KEY, complete: false, reason: /^stdin: input ended at line \d+ without the trailer of sysbackup-upload: the stream was cut off$/ })
      t.match(r.trailer, { ok: false, reason: r.manifest!.reason })
      t.same(await versionKeys(store, 'manifests/'), [INCOMPLETE_KEY], 'nothing at the complete key')
      const { records } = await readManifest(store, INCOMPLETE_KEY)
      t.match(records.at(-1), { type: 'trailer', ok: false, reason: r.manifest!.reason })
      t.match(records.find((x) => x.type === 'stage' && x.producer === 'sysbackup-upload'), { trailer: null })
      t.match(records.find((x) => x.type === 'error'), { stage: 'sysbackup-manifest', message: /^stdin: input ended at line/ })
      t.equal(entryPaths(records).length, 4, 'what did arrive is all there')
      t.equal((await store.head(INCOMPLETE_KEY))!.metadata.complete, 'false')
    })

    t.test('one of two inputs empty (its stage died before writing): an incomplete manifest of the other, exit 1', async (t) => {
      const s = await fresh(t)
      const store = await s.open()
      const { files } = await goodInputs(store)
      const r = await run(s, files, ['-', writeInput(t, 'snaps.ndjson', [])])
      t.equal(r.status, 1)
      t.match(r.manifest, { key: INCOMPLETE_KEY, complete: false, reason: /snaps\.ndjson: input was empty, not even a header: the stream was cut off/ })
      const { records } = await readManifest(store, INCOMPLETE_KEY)
      t.equal(entryPaths(records).length, 4, 'every entry of the other input is there')
    })

    t.test('content retained less than R, or not stored: the reference is dropped, the run incomplete', async (t) => {
      const s = await fresh(t)
      const store = await s.open()
      const short = await uploaded(store, fileEntry('/srv/short', 'short'), 'short', new Date(R.getTime() - DAY))
      const snapShort = await snapshotRecord(store, '20-short', 'x', new Date(R.getTime() - 1000), STAMP)
      const input = nested(UPLOAD_CHAIN, [
        short,
        fileEntry('/srv/never', 'never stored'),
        await uploaded(store, fileEntry('/srv/fine', 'fine'), 'fine', R),
        { ...await uploaded(store, fileEntry('/srv/wrongkey', 'w'), 'w', SLACK), key: `content/${sha256('other')}` },
        snapShort,
      ])
      const r = await run(s, input)
      t.equal(r.status, 1)
      t.match(r.manifest, { key: INCOMPLETE_KEY, complete: false, reason: '4 reference(s) to content not stored or not retained until R were dropped', counts: { errors: 4 } })
      const { records } = await readManifest(store, INCOMPLETE_KEY)
      const byPath = (p: string) => records.find((x) => x.path === p)!
      for (const p of ['/srv/short', '/srv/never', '/srv/wrongkey']) {
        t.notOk('key' in byPath(p) || 'versionId' in byPath(p) || 'retainUntil' in byPath(p), `${p}: no reference`)
        t.equal(byPath(p).sha256 !== undefined, true, `${p}: its metadata is kept`)
      }
      t.match(byPath('/srv/fine'), { key: `content/${sha256('fine')}`, retainUntil: R.toISOString() }, 'retained exactly until R is enough')
      t.match(records.find((x) => x.type === 'snapshot'), { name: '20-short' })
      t.notOk('key' in records.find((x) => x.type === 'snapshot')!)
      const errors = records.filter((x) => x.type === 'error').map((x) => x.message)
      t.match(errors, [
        new RegExp(`^content/${sha256('short')} is retained until .*, before the manifest's ${R.toISOString()}; the entry is kept without a reference to content$`),
        'content not stored (no key); the entry is kept without a reference to content',
        /^key "content\/[0-9a-f]+" is not content\/<sha256> of this entry/,
        /^snapshot 20-short: snapshots\/testhost\/.* is retained until/,
      ])
    })

    t.test('an error record or a failed stage upstream makes the run incomplete', async (t) => {
      const s = await fresh(t)
      const store = await s.open()
      const withError = nested(UPLOAD_CHAIN, [
        await uploaded(store, fileEntry('/srv/a', 'a'), 'a', SLACK),
        { type: 'error', stage: 'sysbackup-hash', message: 'permission denied', path: '/srv/secret', code: 'EACCES' },
      ])
      const r = await run(s, withError)
      t.equal(r.status, 1)
      t.match(r.manifest, { key: INCOMPLETE_KEY, complete: false, reason: '1 error(s) upstream', counts: { errors: 1 } })
      const notOk = nested(['sysbackup-snap'], [], { ok: false })
      const r2 = await run(s, notOk)
      t.equal(r2.status, 1)
      t.match(r2.manifest, { complete: false, reason: 'upstream sysbackup-snap: not ok' })
    })

    t.test('invalid JSON in the second input: exit 3 naming file and line, and no manifest at all', async (t) => {
      const s = await fresh(t)
      const store = await s.open()
      const { files, snaps } = await goodInputs(store)
      const bad = ndjson(snaps).split('\n')
      bad.splice(1, 0, '{"type":"snapshot",')
      const snapsFile = writeInput(t, 'snaps.ndjson', bad.join('\n'))
      const r = await run(s, files, ['-', snapsFile])
      t.equal(r.status, 3)
      t.match(r.io.err(), new RegExp(`^sysbackup-manifest: ${snapsFile}:2: invalid JSON \\(`))
      t.equal(r.manifest, undefined)
      t.match(r.trailer, { ok: false })
      t.same(await versionKeys(store, 'manifests/'), [], 'nothing uploaded')
      t.same(readdirSync(tmpDir(s)).filter((n) => n.startsWith('sysbackup-manifest-')), [], 'no spill directory left')
      const noName = nested(['sysbackup-snap'], [{ type: 'snapshot', key: 'snapshots/x', versionId: 'v', size: 1, sha256: sha256('x') }])
      const r2 = await run(s, noName)
      t.equal(r2.status, 3)
      t.match(r2.io.err(), /^sysbackup-manifest: stdin:2: snapshot record: no string "name"\n/)
      t.same(await versionKeys(store, 'manifests/'), [])
    })
  })
}

t.test('usage errors: exit 2 before anything is read', async (t) => {
  const s = await LOCAL_STORE.fresh(t)
  for (const [args, message] of [
    [['/nonexistent/input.ndjson'], 'sysbackup-manifest: /nonexistent/input.ndjson: cannot read: no such file or directory\n'],
    [['-', '-'], 'sysbackup-manifest: standard input (-) can be read only once\n'],
    [[t.testdirName], `sysbackup-manifest: ${t.testdirName}: is a directory, not a file of records\n`],
    [['--sort-memory', '0'], 'sysbackup-manifest: --sort-memory: 0 is not a positive number of MiB\n'],
  ] as const) {
    const r = await run(s, '', [...args])
    t.equal(r.status, 2, args.join(' '))
    t.equal(r.io.err(), message)
    t.equal(r.io.out(), '')
  }
})
