import t from 'tap'
import { Readable } from 'node:stream'
import { originOf, ProtocolError, RecordReader } from '../../src/protocol/read-records.js'
import type { Rec } from '../../src/protocol/records.js'
import { wrapStream } from '../helpers/io.js'

async function readAll(text: string | Buffer, maxLineBytes?: number): Promise<{ recs: Rec[], reader: RecordReader }> {
  const reader = new RecordReader(Readable.from([Buffer.from(text)]), maxLineBytes === undefined ? { source: 'stdin' } : { source: 'stdin', maxLineBytes })
  const recs: Rec[] = []
  for await (const r of reader) recs.push(r)
  return { recs, reader }
}

const lines = (recs: Rec[]) => recs.map((r) => JSON.stringify(r) + '\n').join('')
const file = { type: 'file', path: '/etc/hosts', mode: '0644', uid: 0, gid: 0, size: 10, mtimeNs: '1', ctimeNs: '1', storageId: '1:2', nlink: 1 }

t.test('a complete stream reads back with origins and no truncation', async (t) => {
  const { recs, reader } = await readAll(lines(wrapStream('sysbackup-pick', [file, { type: 'custom-later-stage', x: 1 }])))
  t.equal(recs.length, 4)
  t.equal(recs[2]!.type, 'custom-later-stage', 'unknown types pass')
  t.equal(originOf(recs[1]!), 'stdin:2')
  t.equal(reader.truncation(), null)
  t.same(reader.upstreamProblems, [])
  t.notOk(JSON.stringify(recs[1]).includes('origin'), 'origin is not serialized')
})

t.test('nested streams must each be closed', async (t) => {
  const inner = wrapStream('sysbackup-pick', [file])
  const outer = wrapStream('sysbackup-hash', inner)
  const ok = await readAll(lines(outer))
  t.equal(ok.reader.truncation(), null)
  const cut = await readAll(lines(outer.slice(0, -2)))
  t.match(cut.reader.truncation(), /without the trailer of sysbackup-hash, sysbackup-pick/)
})

t.test('a not-ok trailer is reported as an upstream problem', async (t) => {
  const recs = wrapStream('sysbackup-pick', [file], false)
  ;(recs[2] as Record<string, unknown>).reason = '1 error(s)'
  const { reader } = await readAll(lines(recs))
  t.same(reader.upstreamProblems, ['sysbackup-pick: 1 error(s)'])
})

const header = JSON.stringify(wrapStream('p', [])[0]) + '\n'
const bad: [string, string | Buffer, RegExp][] = [
  ['invalid JSON', header + '{"type":"file",\n', /^stdin:2: invalid JSON/],
  ['non-object', header + '[1,2]\n', /^stdin:2: record is not a JSON object/],
  ['missing type', header + '{"path":"/x"}\n', /^stdin:2: record has no string "type"/],
  ['newer protocol', '{"type":"header","producer":"p","protocol":2}\n', /^stdin:1: protocol version 2 from p is newer/],
  ['no header first', '{"type":"file"}\n', /^stdin:1: stream does not begin with a header/],
  ['empty stream', '', /^stdin:1: empty input/],
  ['only blank lines', '\n\n', /^stdin:3: empty input/],
  ['binary garbage', Buffer.from([0xff, 0xfe, 0x00, 0x01, 0x0a]), /^stdin:1: line is not valid UTF-8/],
  ['file without path', header + '{"type":"file","mode":"0644","size":1}\n', /^stdin:2: file record: record has no string "path"/],
  ['bad mode', header + JSON.stringify({ ...file, mode: 420 }) + '\n', /^stdin:2: file record: "mode" is not 4 octal digits/],
  ['bad sha256', header + JSON.stringify({ ...file, sha256: 'xyz' }) + '\n', /^stdin:2: file record: "sha256"/],
  ['trailer without header', header + '{"type":"trailer","producer":"q","ok":true}\n', /^stdin:2: trailer of q without its header/],
]

for (const [name, text, pattern] of bad) {
  t.test(`protocol error: ${name}`, async (t) => {
    const err = await readAll(text).then(() => null, (e: unknown) => e)
    t.type(err, ProtocolError)
    t.match((err as Error).message, pattern)
    t.notOk((err as Error).message.includes('\n'), 'one line')
  })
}

t.test('emptyIsTruncated: an empty input is a stream cut off before its header, not an error', async (t) => {
  const reader = new RecordReader(Readable.from([]), { source: 'snaps.ndjson', emptyIsTruncated: true })
  for await (const rec of reader) t.fail(`no record expected, got ${rec.type}`)
  t.equal(reader.truncation(), 'input was empty, not even a header: the stream was cut off')
})

t.test('an over-long line is refused without buffering it whole', async (t) => {
  const big = header + '{"type":"x","pad":"' + 'a'.repeat(10 * 1024 * 1024) + '"}\n'
  const err = await readAll(big).then(() => null, (e: unknown) => e)
  t.match((err as Error).message, /^stdin:2: line is longer than the limit of 1048576 bytes/)
  const small = await readAll(header + '{"type":"x","pad":"' + 'a'.repeat(300) + '"}\n', 200).then(() => null, (e: unknown) => e)
  t.match((small as Error).message, /^stdin:2: line is longer/)
})

t.test('lines split across chunks and a final line without newline', async (t) => {
  const text = lines(wrapStream('p', [file]))
  const chunks = [...Buffer.from(text.slice(0, -1))].map((b) => Buffer.from([b]))
  const reader = new RecordReader(Readable.from(chunks), { source: 'f.ndjson' })
  const recs: Rec[] = []
  for await (const r of reader) recs.push(r)
  t.equal(recs.length, 3)
  t.equal(originOf(recs[2]!), 'f.ndjson:3')
  t.equal(reader.truncation(), null)
})
