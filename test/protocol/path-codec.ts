import t from 'tap'
import { decodePath, decodePathField, displayPath, encodePath, encodePathField, parseDisplayPath, pathAsLatin1, pathBytes } from '../../src/protocol/path-codec.js'

const samples: [string, string | Buffer][] = [
  ['plain', '/etc/passwd'],
  ['space', '/srv/a name with spaces'],
  ['newline', '/tmp/line\nbreak'],
  ['backslash', '/tmp/back\\slash\\n'],
  ['unicode', '/home/ünïcødé/日本'],
  ['invalid utf-8', Buffer.from([0x2f, 0x74, 0x6d, 0x70, 0x2f, 0xff, 0xfe, 0x0a, 0x80])],
  ['overlong', Buffer.from([0x2f, 0xc0, 0xaf])],
  ['lone surrogate bytes', Buffer.from([0x2f, 0xed, 0xa0, 0x80])],
]

for (const [name, p] of samples) {
  t.test(`round trip: ${name}`, async (t) => {
    const json = JSON.stringify(encodePath(p))
    const back = decodePath(JSON.parse(json) as Record<string, unknown>)
    t.same(pathBytes(back), pathBytes(p), 'bytes survive JSON exactly')
    t.notOk(json.includes('\n'), 'encoded form is a single line')
  })
}

t.test('valid UTF-8 uses the text field, invalid uses base64', async (t) => {
  t.same(encodePath(Buffer.from('/etc/hosts')), { path: '/etc/hosts' })
  t.same(encodePath(Buffer.from([0x2f, 0xff])), { pathB64: 'L/8=' })
  t.same(encodePathField('target', Buffer.from([0xff])), { targetB64: '/w==' })
})

t.test('malformed path fields are refused', async (t) => {
  t.throws(() => decodePath({}), /no string "path"/)
  t.throws(() => decodePath({ path: '' }), /empty/)
  t.throws(() => decodePath({ path: 'a\0b' }), /NUL/)
  t.throws(() => decodePath({ path: '/a', pathB64: 'L2E=' }), /both/)
  t.throws(() => decodePath({ pathB64: 'not base64!' }), /canonical/)
  t.throws(() => decodePathField({ target: 5 }, 'target'), /no string "target"/)
})

t.test('displayPath escapes what would break a message line', async (t) => {
  t.equal(displayPath('/tmp/a\nb'), '/tmp/a\\nb')
  t.equal(displayPath(Buffer.from([0x2f, 0xff])), '/\\xff')
  t.equal(displayPath('/ok/path'), '/ok/path')
})

t.test('pathAsLatin1: a character per byte, so the texts sort in the paths\' byte order', async (t) => {
  const paths = samples.map(([, p]) => p)
  for (const p of paths) t.equal(pathAsLatin1(p), pathBytes(p).toString('latin1'), `${displayPath(p)}: the same text as its bytes read as latin1`)
  t.equal(pathAsLatin1('/etc/passwd'), '/etc/passwd', 'an ASCII path is its own text')
  const byBytes = [...paths].sort((a, b) => Buffer.compare(pathBytes(a), pathBytes(b))).map(pathAsLatin1)
  const byText = paths.map(pathAsLatin1).sort((a, b) => a < b ? -1 : a > b ? 1 : 0)
  t.same(byText, byBytes)
})

t.test('parseDisplayPath gives back the bytes displayPath shows, so a path can be pasted from a listing', async (t) => {
  for (const [name, p] of samples) t.same(parseDisplayPath(displayPath(p)), pathBytes(p), name)
  t.same(parseDisplayPath('/etc/hosts'), Buffer.from('/etc/hosts'))
  t.same(parseDisplayPath('/a\\x7F\\X'), null, 'a backslash that begins no escape: not a displayed path')
  t.same(parseDisplayPath('/a\\xZZ'), null)
  t.same(parseDisplayPath('/a\\'), null)
  t.same(parseDisplayPath('/caf\\xe9\\xFF'), Buffer.from([0x2f, 0x63, 0x61, 0x66, 0xe9, 0xff]), 'hex digits in either case')
})
