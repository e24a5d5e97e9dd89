import t from 'tap'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { gzipSync } from 'node:zlib'
import { ManifestReader, openManifest, type ManifestLine } from '../../src/manifests/read-manifest.js'
import { ProtocolError } from '../../src/protocol/read-records.js'
import { LocalStore } from '../../src/store/local-store.js'
import { writeManifest } from '../helpers/backup-fixture.js'

const RUN = new Date('2026-11-26T08:00:00Z')

/** The text of a manifest of `bodyLines` (JSON strings), with a correct digest unless `digest` is given. */
function manifestText(bodyLines: string[], digest?: string): string {
  const head = JSON.stringify({ type: 'header', producer: 'sysbackup-manifest', protocol: 1, host: 'h' }) + '\n'
  const text = head + bodyLines.map((l) => l + '\n').join('')
  const d = digest ?? `sha256:${createHash('sha256').update(text).digest('hex')}`
  return text + JSON.stringify({ type: 'trailer', producer: 'sysbackup-manifest', ok: true, counts: { entries: bodyLines.length }, digest: d }) + '\n'
}

const dir = (path: string) => JSON.stringify({ type: 'dir', path, mode: '0755', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: '1:1', nlink: 2 })

async function readAll(reader: ManifestReader): Promise<ManifestLine[]> {
  const out: ManifestLine[] = []
  for await (const line of reader) out.push(line)
  return out
}

/** An input stream of these chunks. */
function from(bufs: Buffer[]): Readable {
  return Readable.from(bufs)
}

function chunks(buf: Buffer, size: number): Buffer[] {
  const out: Buffer[] = []
  for (let i = 0; i < buf.length; i += size) out.push(buf.subarray(i, i + size))
  return out
}

t.test('plain and gzip input read alike, in one-byte chunks too; the digest checks out', async (t) => {
  const text = manifestText([dir('/'), dir('/etc')])
  for (const [name, bytes] of [['plain', Buffer.from(text)], ['gzip', gzipSync(text)]] as const) {
    const reader = new ManifestReader(from(chunks(bytes, 1)), { source: name, checkDigest: true })
    const lines = await readAll(reader)
    t.same(lines.map((l) => l.rec?.type), ['header', 'dir', 'dir', 'trailer'], name)
    t.same(lines.map((l) => l.line), [1, 2, 3, 4])
    t.same(reader.verdict(), { digest: 'ok', backupComplete: true, entriesRead: 2, entriesCounted: 2 }, name)
  }
})

t.test('an altered line gives a digest mismatch; an edited count is caught too', async (t) => {
  const text = manifestText([dir('/'), dir('/etc')]).replace('"/etc"', '"/etx"')
  const reader = new ManifestReader(from([Buffer.from(text)]), { source: 'm', checkDigest: true })
  await readAll(reader)
  t.equal(reader.verdict().digest, 'mismatch')
  const unchecked = new ManifestReader(from([Buffer.from(text)]), { source: 'stdin', checkDigest: false })
  await readAll(unchecked)
  t.equal(unchecked.verdict().digest, 'unchecked', 'stdin may have been filtered: not checked')
  const noDigest = new ManifestReader(from([Buffer.from(manifestText([dir('/')]).replace(/,"digest":"[^"]*"/, ''))]), { source: 'm', checkDigest: true })
  await readAll(noDigest)
  t.equal(noDigest.verdict().digest, 'absent')
})

t.test('a cut-off gzip stream ends the reading with what came before, and says where', async (t) => {
  const lines = Array.from({ length: 2000 }, (_, i) => dir(`/d${i}`))
  const gz = gzipSync(manifestText(lines))
  const reader = new ManifestReader(from([gz.subarray(0, Math.floor(gz.length / 2))]), { source: 'manifests/h/x.ndjson.gz', checkDigest: true })
  const got = await readAll(reader)
  t.ok(got.length > 10 && got.length < 2000, `${got.length} lines read before the cut`)
  t.match(reader.verdict().truncated, /^manifests\/h\/x\.ndjson\.gz:\d+: the gzip stream is cut off; nothing after line \d+ was read$/)
})

t.test('a manifest without its trailer is cut off; lines after the trailer are noticed', async (t) => {
  const text = manifestText([dir('/')])
  const noTrailer = new ManifestReader(from([Buffer.from(text.split('\n').slice(0, 2).join('\n') + '\n')]), { source: 'stdin', checkDigest: false })
  await readAll(noTrailer)
  t.equal(noTrailer.verdict().truncated, 'stdin: ended at line 2 without the trailer of sysbackup-manifest: the manifest is cut off')
  const extra = new ManifestReader(from([Buffer.from(text + dir('/late') + '\n')]), { source: 'stdin', checkDigest: false })
  await readAll(extra)
  t.equal(extra.verdict().truncated, 'stdin: 1 line(s) follow the trailer of sysbackup-manifest')
  const empty = new ManifestReader(from([]), { source: 'stdin', checkDigest: false })
  await readAll(empty)
  t.equal(empty.verdict().truncated, 'stdin: empty: no records at all')
})

t.test('bad lines are yielded as problems with their numbers, and reading goes on', async (t) => {
  const text = manifestText([dir('/'), '{"type": "dir", "path": ', '[1,2]', '{"no":"type"}', dir('/etc')])
  const reader = new ManifestReader(from([Buffer.from(text)]), { source: 'stdin', checkDigest: true })
  const got = await readAll(reader)
  t.same(got.filter((l) => l.problem !== undefined).map((l) => [l.line, l.problem?.replace(/ \(.*\)$/, '')]), [
    [3, 'invalid JSON'], [4, 'record is not a JSON object'], [5, 'record has no string "type"'],
  ])
  t.equal(got.filter((l) => l.rec?.type === 'dir').length, 2)
  t.equal(reader.verdict().digest, 'ok', 'the digest covers the bad lines as they are')
})

t.test('a manifest of a newer protocol version is refused outright', async (t) => {
  const reader = new ManifestReader(from([Buffer.from('{"type":"header","producer":"sysbackup-manifest","protocol":2}\n')]), { source: 'stdin', checkDigest: false })
  const err = await readAll(reader).then(() => null, (e: unknown) => e)
  t.ok(err instanceof ProtocolError, 'a ProtocolError')
  await t.rejects(readAll(new ManifestReader(from([Buffer.from('{"type":"header","producer":"sysbackup-manifest","protocol":2}\n')]), { source: 'stdin', checkDigest: false })),
    { message: 'stdin:1: protocol version 2 from sysbackup-manifest is newer than this program understands (1)' })
})

t.test('openManifest reads a stored manifest by key and version', async (t) => {
  const store = LocalStore.open(join(t.testdir({}), 'store'), { create: true })
  const stored = await writeManifest(store, [JSON.parse(dir('/')), JSON.parse(dir('/etc'))], { host: 'web1', runTime: RUN })
  const reader = await openManifest(store, stored.key, stored.versionId)
  t.equal(reader.source, stored.key)
  const lines = await readAll(reader)
  t.equal(lines.length, stored.records.length)
  t.match(reader.header, { producer: 'sysbackup-manifest', host: 'web1' })
  t.match(reader.verdict(), { digest: 'ok', backupComplete: true, entriesRead: 2, entriesCounted: 2 })
})
