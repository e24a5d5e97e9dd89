import t, { type Test } from 'tap'
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { runStage } from '../../src/cli/stage.js'
import type { Rec } from '../../src/protocol/records.js'
import { makeRestoreStage } from '../../src/restore/restore-stage.js'
import { LocalStore } from '../../src/store/local-store.js'
import { DAY_MS, writeManifest } from '../helpers/backup-fixture.js'
import { testIO } from '../helpers/io.js'

const RUN = new Date('2026-11-26T08:00:00Z')
const stage = makeRestoreStage({ confirm: null })
const lock = { lockMode: 'GOVERNANCE' as const, retainUntil: new Date(Date.now() + DAY_MS) }
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex')

/** A store with some content, and file records for it. */
async function setup(t: Test, count = 3) {
  const root = t.testdir({ target: {} })
  const store = LocalStore.open(join(root, 'store'), { create: true })
  const files: Rec[] = []
  for (let i = 0; i < count; i++) {
    const content = Buffer.from(`content of file ${i}\n`)
    const { versionId } = await store.putBuffer(`content/${sha(content)}`, content, { ...lock, metadata: { sha256: sha(content), size: String(content.length), encoding: 'identity' } })
    files.push({
      type: 'file', path: `/f${String(i).padStart(4, '0')}`, mode: '0644', uid: 0, gid: 0, mtimeNs: '1600000000000000000', ctimeNs: '1',
      storageId: `1:${i}`, nlink: 1, size: content.length, sha256: sha(content), key: `content/${sha(content)}`, versionId,
    })
  }
  const target = join(root, 'target')
  const run = async (args: string[], stdin: string | Buffer = '', into = target) => {
    const io = testIO(stdin)
    const status = await runStage(stage, ['--store', join(root, 'store'), '--target', into, ...args], io)
    return { status, err: io.err(), records: io.records() }
  }
  return { root, store, files, target, run }
}

const restored = (recs: Rec[]) => recs.filter((r) => r.type === 'restore')

t.test('a line that is not JSON is an error with its line number; the rest is restored', async (t) => {
  const s = await setup(t)
  const lines = [
    JSON.stringify({ type: 'header', producer: 'sysbackup-manifest', protocol: 1 }),
    JSON.stringify(s.files[0]), '{"type":"file","path":"/broken', JSON.stringify(s.files[1]),
    JSON.stringify({ ...s.files[2], mode: '999' }),
    JSON.stringify({ type: 'trailer', producer: 'sysbackup-manifest', ok: true, counts: {} }),
  ]
  const r = await s.run([], lines.join('\n') + '\n')
  t.equal(r.status, 1)
  t.same(readdirSync(s.target).sort(), ['f0000', 'f0001'])
  t.match(r.err, /^sysbackup-restore: stdin:3: invalid JSON \(.*\); line skipped$/m)
  t.match(r.err, /^sysbackup-restore: \/f0002: stdin:5: file entry: "mode" is not 4 octal digits; not restored$/m)
  t.match(r.records.at(-1), { type: 'trailer', ok: false, counts: { written: 2, failed: 1, errors: 2 } })
})

t.test('a manifest cut off in the middle: what it holds is restored, and the restore says it is incomplete', async (t) => {
  const s = await setup(t, 400)
  const whole = await writeManifest(s.store, s.files, { host: 'h', runTime: RUN })
  const gz = gzipSync(whole.text)
  const cut = await s.store.putBuffer('manifests/h/20261127T080000Z.ndjson.gz', gz.subarray(0, Math.floor(gz.length * 0.6)), lock)
  t.ok(cut)
  const r = await s.run(['--key', 'manifests/h/20261127T080000Z.ndjson.gz'])
  t.equal(r.status, 1)
  const written = readdirSync(s.target).length
  t.ok(written > 50 && written < 400, `${written} files restored before the cut`)
  t.match(r.err, /sysbackup-restore: manifests\/h\/20261127T080000Z\.ndjson\.gz:\d+: the gzip stream is cut off; nothing after line \d+ was read; the entries after it are not restored\n/)
  t.match(r.records.at(-1), { ok: false })
})

t.test('a missing content object, content that is not what its key says, an entry without content: each an error, the rest go on', async (t) => {
  const s = await setup(t, 4)
  const [good, missing, wrong, nokey] = s.files as [Rec, Rec, Rec, Rec]
  // The object is gone from the store (a version id that does not exist).
  missing.versionId = '20200101T000000.000Z-0000'
  // A new version of the same key with other bytes: the manifest names that version.
  const { versionId } = await s.store.putBuffer(wrong.key as string, Buffer.from('not the right bytes'), lock)
  wrong.versionId = versionId
  delete nokey.key
  delete nokey.versionId
  const manifest = await writeManifest(s.store, [good, missing, wrong, nokey], { host: 'h', runTime: RUN })
  const r = await s.run(['--key', manifest.key])
  t.equal(r.status, 1)
  t.same(readdirSync(s.target), ['f0000'], 'only the good one, and no temporary files left behind')
  const err = r.err.split('\n')
  t.ok(err.some((l) => /^sysbackup-restore: \/f0001: not restored: GetObject .*\/content\/[0-9a-f]{64}: NoSuchVersion: no version 20200101T000000\.000Z-0000$/.test(l)))
  t.match(r.err, new RegExp(`/f0002: not restored: ${wrong.key as string} \\(version ${versionId}\\) hashes to ${sha(Buffer.from('not the right bytes'))}, not ${wrong.sha256 as string}: content is not what its key says`))
  t.match(r.err, '/f0003: not restored: the backup did not store its content (the entry has no "key")')
  t.same(restored(r.records).map((x) => [x.path, x.action]).sort(), [['/f0000', 'written'], ['/f0001', 'failed'], ['/f0002', 'failed'], ['/f0003', 'failed']])
})

t.test('an altered manifest is reported; the backup of an incomplete run is restored with a warning', async (t) => {
  const s = await setup(t, 2)
  const original = await writeManifest(s.store, s.files, { host: 'h', runTime: RUN })
  const altered = original.text.replace('"/f0001"', '"/f0009"')
  await s.store.putBuffer('manifests/h/20261128T080000Z.ndjson.gz', gzipSync(altered), lock)
  const r = await s.run(['--key', 'manifests/h/20261128T080000Z.ndjson.gz'])
  t.equal(r.status, 1)
  t.match(r.err, 'sysbackup-restore: manifests/h/20261128T080000Z.ndjson.gz: the digest in its trailer does not match its lines: the manifest was altered')

  const incomplete = await writeManifest(s.store, s.files, { host: 'h', runTime: new Date('2026-11-29T08:00:00Z'), complete: false })
  const r2 = await s.run(['--key', incomplete.key], '', join(s.root, 't2'))
  t.equal(r2.status, 0, 'everything it holds was restored')
  t.match(r2.err, 'sysbackup-restore: warning: this is the manifest of an incomplete backup (upstream: sysbackup-hash: 1 error(s)): some files were not backed up')
  t.equal(readFileSync(join(s.root, 't2/f0001'), 'utf8'), 'content of file 1\n')
  // The digest is known only once the manifest has streamed by: what it named was restored (inside the target, content verified).
  t.ok(existsSync(join(s.target, 'f0009')))
})
