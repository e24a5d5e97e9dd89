import t from 'tap'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import { FatalError } from '../../src/cli/errors.js'
import { findInManifest, type Wanted } from '../../src/manifests/find-entry.js'
import { ManifestReader } from '../../src/manifests/read-manifest.js'
import type { Rec } from '../../src/protocol/records.js'

const KEY = `content/${'a'.repeat(64)}`

/** The text of a manifest of `body`, with its header and trailer; `cut` drops the trailer. */
function manifest(body: Rec[], cut = false): string {
  const head = JSON.stringify({ type: 'header', producer: 'sysbackup-manifest', protocol: 1, host: 'h' }) + '\n'
  const text = head + body.map((r) => JSON.stringify(r) + '\n').join('')
  if (cut) return text
  const digest = `sha256:${createHash('sha256').update(text).digest('hex')}`
  return text + JSON.stringify({ type: 'trailer', producer: 'sysbackup-manifest', ok: true, counts: {}, digest }) + '\n'
}

const file = (path: string, extra: Record<string, unknown> = {}): Rec => ({ type: 'file', path, mode: '0644', uid: 0, gid: 0, mtimeNs: '0', size: 1, storageId: `1:${path}`, nlink: 1, ...extra })
const stored = { key: KEY, versionId: 'v1' }
const paths = (...p: string[]): Wanted => ({ kind: 'entry', paths: p.map((x) => Buffer.from(x)) })

async function find(body: Rec[], wanted: Wanted, cut = false) {
  const reader = new ManifestReader(Readable.from([Buffer.from(manifest(body, cut))]), { source: 'm', checkDigest: true })
  const found = await findInManifest(reader, wanted)
  return { found, linesRead: reader.lines, ended: reader.ended }
}

t.test('reading stops at the entry, or at the first one past it', async (t) => {
  const body = [file('/a'), file('/b'), file('/c'), file('/d')]
  const hit = await find(body, paths('/b'))
  t.equal(hit.found?.rec.path, '/b')
  t.equal(hit.found?.line, 3)
  t.equal(hit.linesRead, 3, 'nothing after it read')
  const miss = await find(body, paths('/bb'))
  t.equal(miss.found, null)
  t.equal(miss.linesRead, 4, 'stopped at /c, the first path past /bb')
  t.notOk(miss.ended)
  const last = await find(body, paths('/z'))
  t.equal(last.found, null)
  t.equal(last.linesRead, 6, 'a path past every entry: read to the first record that is not an entry (here the trailer)')
})

t.test('of several paths the first wins; the others are looked for until passed', async (t) => {
  // "/a\x41" literally (a backslash in the name) and the "/aA" it shows.
  const literal = '/a\\x41'
  const both = await find([file('/aA'), file(literal)], paths(literal, '/aA'))
  t.equal(both.found?.rec.path, literal)
  const escaped = await find([file('/aA'), file('/b')], paths(literal, '/aA'))
  t.equal(escaped.found?.rec.path, '/aA')
})

t.test('snapshots are looked for after the entries, by name', async (t) => {
  const snap: Rec = { type: 'snapshot', name: 'db', key: 'snapshots/h/x-db', sha256: 'b'.repeat(64), size: 3 }
  const r = await find([file('/a'), snap, { type: 'snapshot', name: 'other' }], { kind: 'snapshot', name: 'db' })
  t.same(r.found?.rec, snap)
  t.equal((await find([file('/a'), snap], { kind: 'snapshot', name: 'nope' })).found, null)
  t.equal((await find([snap], paths('/z'))).linesRead, 2, 'a path lookup stops at the first snapshot: the entries are over')
})

t.test('a hard link without content of its own: another member of its group with some, before or after it', async (t) => {
  const group = { storageId: '1:9', nlink: 3 }
  const before = await find([file('/a', { ...group, ...stored }), file('/b', group), file('/c')], paths('/b'))
  t.equal(before.found?.linkedTo?.path, '/a')
  t.equal(before.linesRead, 3, 'no further reading')
  const after = await find([file('/a', group), file('/b', group), file('/c'), file('/d', { ...group, ...stored }), file('/e')], paths('/a'))
  t.equal(after.found?.rec.path, '/a')
  t.equal(after.found?.linkedTo?.path, '/d', 'read on to the member that has content')
  t.equal(after.linesRead, 5)
  const none = await find([file('/a', group), file('/b', group)], paths('/a'))
  t.equal(none.found?.linkedTo, undefined)
  const alone = await find([file('/a', { ...stored, storageId: '1:5', nlink: 1 }), file('/b', { storageId: '1:5', nlink: 1 })], paths('/b'))
  t.equal(alone.found?.linkedTo, undefined, 'nlink 1: not a group, whatever the storageId')
})

t.test('a manifest cut off before the path: FatalError; after it: found', async (t) => {
  const body = [file('/a'), file('/b')]
  const err = await find(body, paths('/c'), true).then(() => null, (e: unknown) => e)
  t.ok(err instanceof FatalError)
  t.match((err as Error).message, /^m: ended at line 3 without the trailer of sysbackup-manifest: the manifest is cut off: \/c is not in what could be read$/)
  t.equal((await find(body, paths('/a'), true)).found?.rec.path, '/a')
  const snapErr = await find(body, { kind: 'snapshot', name: 'db' }, true).then(() => null, (e: unknown) => e)
  t.match((snapErr as Error).message, /snapshot:db is not in what could be read/)
})
