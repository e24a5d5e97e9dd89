import t from 'tap'
import { DESCRIPTION_LIMIT, DescriptionCollector, cutAtCharacter } from '../../../src/stages/snap/description.js'

/** Feeds `text` to a collector `size` bytes at a time, so lines straddle chunks. */
function collect(text: string | Buffer, size = 3): DescriptionCollector {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text
  const c = new DescriptionCollector()
  for (let i = 0; i < bytes.length; i += size) c.push(bytes.subarray(i, i + size))
  return c
}

t.test('lines are the description; restore lines are taken out, the last one wins', async (t) => {
  const c = collect('first line\n::restore-through:: one\nsecond line\n\n::restore-through::   two words \r\nlast line\n\n\n')
  const d = c.current(true)
  t.equal(d.description.toString(), 'first line\nsecond line\n\nlast line', 'trailing newlines dropped, blank lines inside kept')
  t.equal(d.restoreThrough?.toString(), 'two words ', 'prefix and the blanks after it, and the CR, removed')
  t.notOk(d.truncated)
})

t.test('a final line without a newline counts, but only once the output has ended', async (t) => {
  const c = collect('shown\n::restore-through:: cat')
  t.same(c.current(false).description.toString(), 'shown')
  t.equal(c.current(false).restoreThrough, undefined, 'a line still being written is not taken yet')
  t.equal(c.current(true).restoreThrough?.toString(), 'cat')
  const d = collect('no newline at all').current(true)
  t.equal(d.description.toString(), 'no newline at all')
})

t.test('any bytes are kept exactly', async (t) => {
  const bytes = Buffer.from([0xff, 0x00, 0x41, 0x0d, 0x0a, 0xc3, 0xa9])
  t.same(collect(bytes, 1).current(true).description, bytes)
  t.same(collect(bytes.subarray(0, 5), 2).current(true).description, Buffer.from([0xff, 0x00, 0x41]), 'a CR before the final newline goes with it')
})

t.test('memory stays bounded: a long description is cut at the limit', async (t) => {
  const line = 'x'.repeat(1000) + '\n'
  const c = new DescriptionCollector()
  for (let i = 0; i < 200; i++) c.push(Buffer.from(line))
  c.push(Buffer.from('::restore-through:: still seen after the limit\n'))
  const d = c.current(true)
  t.ok(d.truncated)
  t.equal(d.description.length, DESCRIPTION_LIMIT)
  t.equal(d.restoreThrough?.toString(), 'still seen after the limit')
  const huge = collect(Buffer.alloc(3 * DESCRIPTION_LIMIT, 0x61), 50_000).current(true)
  t.equal(huge.description.length, DESCRIPTION_LIMIT, 'one enormous line too')
  t.ok(huge.truncated)
  const longRestore = collect('::restore-through:: ' + 'y'.repeat(DESCRIPTION_LIMIT + 10) + '\n', 4096).current(true)
  t.ok(longRestore.restoreTruncated)
  const kept = longRestore.restoreThrough!.length
  t.ok(kept <= DESCRIPTION_LIMIT && kept > DESCRIPTION_LIMIT - 10, `kept ${kept} bytes of it`)
})

t.test('a cut never splits a UTF-8 character', async (t) => {
  const text = Buffer.from('aé€') // 1 + 2 + 3 bytes
  t.equal(cutAtCharacter(text, 2).toString(), 'a')
  t.equal(cutAtCharacter(text, 3).toString(), 'aé')
  t.equal(cutAtCharacter(text, 5).toString(), 'aé')
  t.equal(cutAtCharacter(text, 6).toString(), 'aé€')
})
