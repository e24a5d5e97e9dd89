import t from 'tap'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { checkedLines, writeChecksummedFile } from '../../src/util/checksummed-file.js'

/** Lines of 100 characters: 5,000 of them span several of the writer's chunks. */
function lines(n: number): string[] {
  return Array.from({ length: n }, (_, i) => `${String(i).padStart(10, '0')} ${'x'.repeat(88)}\n`)
}

function check(file: string, headLines: number): ReturnType<typeof checkedLines> {
  const data = readFileSync(file)
  return checkedLines(data, data.toString('latin1'), headLines)
}

t.test('what is written in chunks is the head, the lines and a closing line over every byte above it', async (t) => {
  const file = join(t.testdir({}), 'cache')
  const body = lines(5000)
  t.equal(await writeChecksummedFile(file, 'format 1\nsecond head line\n', body), 5000)
  const expected = 'format 1\nsecond head line\n' + body.join('')
  const digest = createHash('sha256').update(expected, 'latin1').digest('hex')
  t.equal(readFileSync(file, 'latin1'), `${expected}end 5000 ${digest}\n`)
  t.same(check(file, 2), { head: ['format 1', 'second head line'], entries: body.map((l) => l.slice(0, -1)), entriesAt: 26 })
})

t.test('no lines: only the head and the closing line', async (t) => {
  const file = join(t.testdir({}), 'cache')
  t.equal(await writeChecksummedFile(file, 'format 1\n', []), 0)
  t.same(check(file, 1), { head: ['format 1'], entries: [], entriesAt: 9 })
  t.same(check(file, 3), { head: ['format 1'], entries: [], entriesAt: 9 }, 'a head shorter than asked comes back short, for the caller to judge')
})

t.test('a cut-off, altered or miscounted file is refused with the reason', async (t) => {
  const dir = t.testdir({})
  const file = join(dir, 'cache')
  await writeChecksummedFile(file, 'format 1\n', lines(3))
  const whole = readFileSync(file, 'latin1')
  const variants: [string, string][] = [
    [whole.slice(0, -1), 'is truncated'],
    [whole.slice(0, whole.lastIndexOf('end ')), 'is truncated'],
    [whole.replace('0000000001', '0000000009'), 'is corrupted (checksum mismatch)'],
  ]
  const body = 'format 1\n' + lines(3).join('')
  const miscounted = `${body}end 4 ${createHash('sha256').update(body, 'latin1').digest('hex')}\n`
  variants.push([miscounted, 'is corrupted (wrong entry count)'])
  for (const [text, reason] of variants) {
    writeFileSync(file, text, 'latin1')
    t.equal(check(file, 1), reason, reason)
  }
})

t.test('a file that cannot be replaced: the error, and no temporary file left', async (t) => {
  const dir = t.testdir({ cache: {} })
  // A directory where the file should be: the rename over it fails, whoever runs the test.
  await t.rejects(writeChecksummedFile(join(dir, 'cache'), 'format 1\n', lines(5000)), { code: 'EISDIR' })
  t.same(readdirSync(dir), ['cache'])
  t.same(readdirSync(join(dir, 'cache')), [])
})
