import t from 'tap'
import { LineError, splitLineBatches, splitLines } from '../../src/protocol/line-splitter.js'

async function* chunks(...parts: string[]): AsyncGenerator<Buffer> {
  for (const p of parts) yield Buffer.from(p)
}

async function batches(source: AsyncIterable<Buffer>, maxBytes: number): Promise<{ got: string[][], error?: unknown }> {
  const got: string[][] = []
  try {
    for await (const batch of splitLineBatches(source, maxBytes)) got.push(batch.map((b) => b.toString()))
  } catch (error) {
    return { got, error }
  }
  return { got }
}

t.test('a batch per chunk: the lines it ends, one begun in an earlier chunk included; a last line without newline comes alone', async (t) => {
  t.same((await batches(chunks('a\nb\nc', 'c\nd\n', 'e', 'f'), 100)).got, [['a', 'b'], ['cc', 'd'], ['ef']])
  const lines = []
  for await (const line of splitLines(chunks('a\nb\nc', 'c\nd\n', 'e', 'f'), 100)) lines.push([line.number, line.bytes.toString()])
  t.same(lines, [[1, 'a'], [2, 'b'], [3, 'cc'], [4, 'd'], [5, 'ef']], 'splitLines gives the same lines, numbered')
})

t.test('the lines ahead of a line too long are yielded before its error', async (t) => {
  const { got, error } = await batches(chunks('ok\nfine\nmuch too long\nnever\n'), 5)
  t.same(got, [['ok', 'fine']])
  t.ok(error instanceof LineError)
  t.equal((error as LineError).lineNumber, 3)
  const open = await batches(chunks('ok\nunfinished and long'), 5)
  t.same(open.got, [['ok']], 'a line without its end yet, already too long')
  t.equal((open.error as LineError).lineNumber, 2)
})
