import t from 'tap'
import { observed } from '../../src/util/observed.js'

async function* numbers(closed: { value: boolean }, count = 3): AsyncGenerator<number> {
  try {
    for (let i = 1; i <= count; i++) yield i
  } finally {
    closed.value = true
  }
}

t.test('observed: every value passes, in order, seen once on its way; onEnd once at the end', async (t) => {
  const closed = { value: false }
  const seen: number[] = []
  let ends = 0
  const out: number[] = []
  for await (const n of observed(numbers(closed), (n) => seen.push(n), () => ends++)) {
    t.same(seen, out.concat(n), 'each value is seen before the consumer gets it')
    out.push(n)
  }
  t.same(out, [1, 2, 3])
  t.equal(ends, 1)
  t.ok(closed.value)
})

t.test('observed: a throw from onValue rejects that value and closes the source, as a for-await body would', async (t) => {
  const closed = { value: false }
  const out: number[] = []
  await t.rejects((async () => {
    for await (const n of observed(numbers(closed, 10), (n) => { if (n === 2) throw new Error('two') })) out.push(n)
  })(), /two/)
  t.same(out, [1])
  await new Promise((resolve) => setImmediate(resolve))
  t.ok(closed.value, 'the source generator ran its finally')
})

t.test('observed: a throw from onEnd rejects the last next()', async (t) => {
  const out: number[] = []
  await t.rejects((async () => {
    for await (const n of observed(numbers({ value: false }), () => {}, () => { throw new Error('empty') })) out.push(n)
  })(), /empty/)
  t.same(out, [1, 2, 3])
})

t.test('observed: a consumer that stops early closes the source', async (t) => {
  const closed = { value: false }
  let ends = 0
  for await (const n of observed(numbers(closed, 10), () => {}, () => ends++)) if (n === 2) break
  t.ok(closed.value)
  t.equal(ends, 0, 'the source did not end: onEnd is not called')
})
