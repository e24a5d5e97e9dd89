import t from 'tap'
import { Readable } from 'node:stream'
import { diffManifests, type Change, type DiffCounts } from '../../src/audit/diff-entries.js'
import { ManifestReader } from '../../src/manifests/read-manifest.js'
import type { Rec } from '../../src/protocol/records.js'
import { wrapStream } from '../helpers/io.js'

const entry = (type: string, path: string, extra: Record<string, unknown> = {}): Rec =>
  ({ type, path, mode: '0644', uid: 0, gid: 0, mtimeNs: '1', ctimeNs: '1', storageId: '1:1', nlink: 1, ...extra })

function reader(records: Rec[]): ManifestReader {
  const text = wrapStream('sysbackup-manifest', records).map((r) => JSON.stringify(r) + '\n').join('')
  return new ManifestReader(Readable.from([Buffer.from(text)]), { source: 'test', checkDigest: false })
}

async function diff(a: Rec[], b: Rec[]): Promise<{ changes: Change[], counts: DiffCounts }> {
  const counts: DiffCounts = { added: 0, removed: 0, modified: 0, contentChanged: 0, metadataChanged: 0, unchanged: 0 }
  const changes: Change[] = []
  for await (const c of diffManifests(reader(a), reader(b), counts)) changes.push(c)
  return { changes, counts }
}

t.test('paths merge in byte order, names that are not UTF-8 included; snapshots by name after the entries', async (t) => {
  const latin1 = Buffer.from([0x2f, 0x63, 0xe9])
  const a = [entry('dir', '/'), entry('file', '/a', { sha256: '1'.repeat(64), size: 1 }), { ...entry('file', ''), path: undefined, pathB64: latin1.toString('base64'), sha256: '2'.repeat(64), size: 2 },
    { type: 'snapshot', name: 'db', sha256: '3'.repeat(64), size: 3 }, { type: 'snapshot', name: 'etc', sha256: '4'.repeat(64), size: 4 }]
  const b = [entry('dir', '/'), entry('file', '/a', { sha256: '1'.repeat(64), size: 1 }), entry('file', '/b', { sha256: '5'.repeat(64), size: 5 }),
    { type: 'snapshot', name: 'db', sha256: '6'.repeat(64), size: 6 }]
  const { changes, counts } = await diff(a, b)
  t.same(changes.map((c) => [c.change, Buffer.isBuffer(c.path) ? c.path.toString('hex') : c.path]), [
    ['added', '/b'], ['removed', latin1.toString('hex')], ['modified', 'snapshot:db'], ['removed', 'snapshot:etc'],
  ])
  t.same(changes[2]!.content, { from: '3'.repeat(64), to: '6'.repeat(64), fromSize: 3, toSize: 6 })
  t.same(counts, { added: 1, removed: 2, modified: 1, contentChanged: 1, metadataChanged: 0, unchanged: 2 })
})

t.test('special files: kind and device numbers are metadata; uid without a name compares as a number', async (t) => {
  const { changes } = await diff(
    [entry('special', '/dev/x', { kind: 'char', rdev: 259 }), entry('file', '/f', { uid: 23456, sha256: 'a'.repeat(64) })],
    [entry('special', '/dev/x', { kind: 'block', rdev: 260 }), entry('file', '/f', { uid: 23457, sha256: 'a'.repeat(64) })])
  t.same(changes[0]!.metadata, { type: { from: 'special (char)', to: 'special (block)' }, device: { from: '259', to: '260' } })
  t.same(changes[1]!.metadata, { owner: { from: '23456', to: '23457' } })
})

t.test('entries out of order: a fatal error naming the line, not a wrong diff', async (t) => {
  await t.rejects(diff([entry('file', '/b'), entry('file', '/a')], [entry('file', '/a')]), { message: 'test:3: entries are not sorted by path (/a after /b): cannot compare it in one pass' })
})
