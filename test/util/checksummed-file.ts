import t from 'tap'
import { createHash } from 'node:crypto'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
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

t.test('content the same as `previous` is not written; content that differs anywhere is, whole', async (t) => {
  const file = join(t.testdir({}), 'cache')
  const body = lines(5000)
  await writeChecksummedFile(file, 'format 1\n', body)
  const previous = readFileSync(file)
  const inode = () => statSync(file).ino // a write renames a new file into place
  const before = inode()
  t.equal(await writeChecksummedFile(file, 'format 1\n', body, previous), 5000, 'the lines counted')
  t.equal(inode(), before, 'the same bytes: not written')
  t.same(readdirSync(dirname(file)), ['cache'], 'no temporary file')

  // A difference in the first chunk, in a later one (5,000 lines span several), in the head, and fewer or more lines.
  const variants: [string, string, string[]][] = [
    ['first line', 'format 1\n', [lines(1)[0]!.replace('x', 'y'), ...body.slice(1)]],
    ['last line', 'format 1\n', [...body.slice(0, -1), body.at(-1)!.replace('x', 'y')]],
    ['head', 'format 2\n', body],
    ['one line fewer', 'format 1\n', body.slice(0, -1)],
    ['one line more', 'format 1\n', [...body, body[0]!]],
  ]
  for (const [what, head, changed] of variants) {
    const was = inode()
    t.equal(await writeChecksummedFile(file, head, changed, readFileSync(file)), changed.length, what)
    const digest = createHash('sha256').update(head + changed.join(''), 'latin1').digest('hex')
    t.equal(readFileSync(file, 'latin1'), `${head}${changed.join('')}end ${changed.length} ${digest}\n`, `${what}: written whole`)
    t.not(inode(), was, `${what}: replaced`)
  }
  const last = readFileSync(file)
  t.equal(await writeChecksummedFile(file, 'format 1\n', [], Buffer.concat([last, Buffer.from('trailing')])), 0)
  t.equal(readFileSync(file, 'latin1'), `format 1\nend 0 ${createHash('sha256').update('format 1\n').digest('hex')}\n`, 'a shorter content than previous: written')
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
