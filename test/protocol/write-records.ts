import t from 'tap'
import { Writable } from 'node:stream'
import { recordsWritten, serializeRecords, writeRecords } from '../../src/protocol/write-records.js'
import type { Rec } from '../../src/protocol/records.js'

t.test('records become one JSON line each, in order', async (t) => {
  async function* gen(): AsyncGenerator<Rec> {
    yield { type: 'a', n: 1 }
    await new Promise((r) => setTimeout(r, 5))
    yield { type: 'b', s: 'x\ny' }
  }
  let text = ''
  const chunks: string[] = []
  for await (const c of serializeRecords(gen())) { text += c; chunks.push(c) }
  t.equal(text, '{"type":"a","n":1}\n{"type":"b","s":"x\\ny"}\n')
  t.equal(chunks.length, 2, 'a record is released when the source has to wait')
})

t.test('ready records are batched into large chunks', async (t) => {
  async function* gen(): AsyncGenerator<Rec> { for (let i = 0; i < 10000; i++) yield { type: 'x', i } }
  const chunks: string[] = []
  for await (const c of serializeRecords(gen(), 4096)) chunks.push(c)
  t.ok(chunks.length < 100, `10000 records in ${chunks.length} chunks`)
  t.equal(chunks.join('').split('\n').length, 10001)
})

t.test('ready records from a deep stack of generators are batched too', async (t) => {
  // A stage's records pass through several async generators (reader,
  // concurrency window, the stage, the runner), each costing promise turns.
  async function* source(): AsyncGenerator<Rec> { for (let i = 0; i < 10000; i++) yield { type: 'x', i } }
  async function* layer(inner: AsyncIterable<Rec>): AsyncGenerator<Rec> { for await (const r of inner) yield r }
  async function* delegate(inner: AsyncIterable<Rec>): AsyncGenerator<Rec> { yield* inner }
  const deep = layer(delegate(layer(layer(delegate(layer(source()))))))
  const chunks: string[] = []
  for await (const c of serializeRecords(deep, 4096)) chunks.push(c)
  t.ok(chunks.length < 100, `10000 records in ${chunks.length} chunks`)
})

t.test('a stalled consumer stops the producer (backpressure)', async (t) => {
  let produced = 0
  async function* gen(): AsyncGenerator<Rec> {
    for (let i = 0; i < 1_000_000; i++) { produced++; yield { type: 'x', pad: 'p'.repeat(200), i } }
  }
  let release: (() => void) | undefined
  let received = 0
  const slow = new Writable({
    highWaterMark: 16 * 1024,
    write(chunk: Buffer, _enc, cb) {
      received += chunk.length
      if (received > 1024 * 1024) release = cb // stall after 1 MiB
      else cb()
    },
  })
  const done = writeRecords(gen(), slow)
  await new Promise((r) => setTimeout(r, 300))
  t.ok(release, 'consumer stalled')
  t.ok(produced < 20_000, `producer paused after ${produced} records of 1,000,000`)
  slow.destroy()
  await done.catch(() => {})
})

t.test('recordsWritten: resolves only once the records yielded so far have been accepted by the output', async (t) => {
  // An output that takes 100 ms to accept each write, and notes what it has accepted.
  const accepted: string[] = []
  const out = new Writable({
    write(chunk: Buffer, _encoding, done) {
      setTimeout(() => {
        if (chunk.length > 0) accepted.push(chunk.toString())
        done()
      }, 100)
    },
  })
  const seen: string[][] = []
  async function* source(): AsyncGenerator<Rec> {
    for (const name of ['first', 'second']) {
      yield { type: 'x', name }
      await recordsWritten(out)
      seen.push([...accepted])
    }
  }
  await writeRecords(source(), out)
  t.same(seen, [['{"type":"x","name":"first"}\n'], ['{"type":"x","name":"first"}\n', '{"type":"x","name":"second"}\n']])
})
