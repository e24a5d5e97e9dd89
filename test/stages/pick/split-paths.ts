import t from 'tap'
import { MAX_PATH_BYTES, PathSplitter, type Separator } from '../../../src/stages/pick/split-paths.js'

/** Feeds `chunks` to a splitter and returns every path as a latin1 string (byte-exact). */
function split(mode: Separator, chunks: (string | Buffer)[]): { paths: string[], splitter: PathSplitter } {
  const splitter = new PathSplitter(mode)
  const paths: string[] = []
  for (const chunk of chunks) {
    for (const p of splitter.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, 'latin1'))) paths.push(p.toString('latin1'))
  }
  for (const p of splitter.end()) paths.push(p.toString('latin1'))
  return { paths, splitter }
}

t.test('auto: newline-separated when a newline comes first', async (t) => {
  const { paths, splitter } = split('auto', ['/etc/a\n/etc/b\n\n/etc/c'])
  t.same(paths, ['/etc/a', '/etc/b', '/etc/c'])
  t.equal(splitter.mode, 'newline')
})

t.test('auto: NUL-separated when a NUL comes first; newlines are then part of names', async (t) => {
  const { paths, splitter } = split('auto', ['/a\0/b\nc\0\0/d\0'])
  t.same(paths, ['/a', '/b\nc', '/d'])
  t.equal(splitter.mode, 'nul')
})

t.test('auto: the decision waits for the first separator, across chunks', async (t) => {
  const { paths } = split('auto', ['/very/long', '/name', '\0/x\n', 'y\0'])
  t.same(paths, ['/very/long/name', '/x\ny'])
})

t.test('paths split across chunks are joined, byte for byte', async (t) => {
  const bytes = Buffer.from([0x2f, 0x61, 0xff, 0xfe, 0x0a, 0x2f, 0x62, 0x0a])
  const { paths } = split('newline', [bytes.subarray(0, 3), bytes.subarray(3, 6), bytes.subarray(6)])
  t.same(paths, ['/a\xff\xfe', '/b'])
})

t.test('forced NUL: a newline first does not change it', async (t) => {
  const { paths } = split('nul', ['/a\nb\0/c\0'])
  t.same(paths, ['/a\nb', '/c'])
})

t.test('forced newline keeps NUL bytes inside a line (the recorder refuses them)', async (t) => {
  const { paths } = split('newline', ['/a\0b\n'])
  t.same(paths, ['/a\0b'])
})

t.test('lines longer than PATH_MAX are skipped and counted, even across chunks', async (t) => {
  const long = '/' + 'x'.repeat(MAX_PATH_BYTES)
  const { paths, splitter } = split('newline', ['/ok\n', long.slice(0, 3000), long.slice(3000), '\n/after\n', long, '\n'])
  t.same(paths, ['/ok', '/after'])
  t.equal(splitter.overlong, 2)
  const edge = '/' + 'y'.repeat(MAX_PATH_BYTES - 1)
  t.same(split('newline', [edge + '\n']).paths, [edge], 'exactly MAX_PATH_BYTES is kept')
})

t.test('an overlong last line without separator is counted at the end', async (t) => {
  const { paths, splitter } = split('auto', ['/a\n', 'z'.repeat(MAX_PATH_BYTES + 10)])
  t.same(paths, ['/a'])
  t.equal(splitter.overlong, 1)
})

t.test('a stream with no separator at all is one path', async (t) => {
  t.same(split('auto', ['/only']).paths, ['/only'])
  t.same(split('auto', []).paths, [])
})
