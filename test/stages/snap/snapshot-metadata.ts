import t from 'tap'
import { createHash } from 'node:crypto'
import { checkPutOptions, MAX_METADATA_BYTES } from '../../../src/store/validate.js'
import { percentEncode, snapshotMetadata } from '../../../src/stages/snap/snapshot-metadata.js'

const decode = (text: string) => Buffer.from(text.replace(/%([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16))), 'latin1')
const bytesOf = (m: Record<string, string>) => Object.entries(m).reduce((n, [k, v]) => n + k.length + v.length, 0)
/** The store's own check of metadata (printable ASCII, lower-case keys, 2 KiB). */
const acceptable = (metadata: Record<string, string>) =>
  checkPutOptions('PutObject', 'test', { lockMode: 'GOVERNANCE', retainUntil: new Date(Date.now() + 86_400_000), metadata }, new Date())

t.test('percent-encoding keeps plain text readable and round-trips any bytes', async (t) => {
  t.equal(percentEncode(Buffer.from('pg_dump -Fc mydb | gzip')), 'pg_dump -Fc mydb | gzip')
  t.equal(percentEncode(Buffer.from('100% done\nnext\ttab')), '100%25 done%0Anext%09tab')
  t.equal(percentEncode(Buffer.from('  padded  ')), '%20%20padded%20%20', 'blanks at the ends would be trimmed by HTTP')
  t.equal(percentEncode(Buffer.from('café ✓')), 'caf%C3%A9 %E2%9C%93')
  const all = Buffer.from(Array.from({ length: 256 }, (_, i) => i))
  const encoded = percentEncode(all)
  t.match(encoded, /^[\x20-\x7e]*$/, 'printable ASCII only')
  t.same(decode(encoded), all, 'every byte comes back')
})

t.test('everything fits S3\'s 2 KiB; the restore command gets room first; cuts are named', async (t) => {
  const sha = createHash('sha256').update('x').digest('hex')
  const small = snapshotMetadata({ description: Buffer.from('dump'), restoreThrough: Buffer.from('psql'), sha256: sha, size: 7 })
  t.same(small, { sha256: sha, size: '7', 'restore-through': 'psql', description: 'dump' })
  t.doesNotThrow(() => acceptable(small))

  const long = snapshotMetadata({ description: Buffer.from('é'.repeat(2000)), restoreThrough: Buffer.from('zcat | psql -d db'), sha256: sha, size: 1 })
  t.equal(long['restore-through'], 'zcat | psql -d db')
  t.equal(long.truncated, 'description')
  t.ok(bytesOf(long) <= MAX_METADATA_BYTES, `${bytesOf(long)} bytes`)
  t.ok(bytesOf(long) > MAX_METADATA_BYTES - 40, 'and uses the room there is')
  t.match(long.description, /^(%C3%A9)+$/, 'not cut inside an escape')
  t.doesNotThrow(() => acceptable(long))

  const both = snapshotMetadata({ description: Buffer.from('d'.repeat(5000)), restoreThrough: Buffer.from('r '.repeat(3000)) })
  t.equal(both.truncated, 'restore-through,description')
  const cutCommand = decode(both['restore-through']!)
  t.ok(Buffer.from('r '.repeat(3000)).subarray(0, cutCommand.length).equals(cutCommand), 'a cut value decodes to a start of the text')
  t.notMatch(both['restore-through'], / $/, 'and does not end in a blank HTTP would trim')
  t.ok(bytesOf(both) <= MAX_METADATA_BYTES)
  t.doesNotThrow(() => acceptable(both))
})
