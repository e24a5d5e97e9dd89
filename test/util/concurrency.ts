import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { mapOrdered } from '../../src/util/concurrency.js'

t.test('mapOrdered: results in input order, at most `limit` calls in flight', async (t) => {
  let inFlight = 0
  let most = 0
  const out: number[] = []
  for await (const r of mapOrdered([5, 1, 4, 2, 3, 0], 3, async (n) => {
    most = Math.max(most, ++inFlight)
    await sleep(n * 5)
    inFlight--
    return n * 10
  })) out.push(r)
  t.same(out, [50, 10, 40, 20, 30, 0])
  t.equal(most, 3)
})

t.test('mapOrdered: a result ready at the head is passed on before the window fills', async (t) => {
  let pulled = 0
  async function* source(): AsyncGenerator<number> {
    for (let i = 0; i < 50; i++) {
      pulled++
      yield i
    }
  }
  const pulledAtResult: number[] = []
  for await (const _ of mapOrdered(source(), 1000, async (n) => n)) pulledAtResult.push(pulled)
  t.ok(pulledAtResult[0]! <= 2, `the first result came after ${pulledAtResult[0]} items were pulled, not after all 50`)
  t.ok(pulledAtResult.every((p, i) => p - i <= 2), 'and each one after, with at most a couple held')
})

t.test('mapOrdered: a result not ready holds those behind it, in order', async (t) => {
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const seen: string[] = []
  const run = (async () => {
    for await (const r of mapOrdered(['slow', 'a', 'b'], 10, async (s) => {
      if (s === 'slow') await gate
      return s
    })) seen.push(r)
  })()
  await sleep(20)
  t.same(seen, [], 'nothing passes the slow one')
  release()
  await run
  t.same(seen, ['slow', 'a', 'b'])
})

t.test('mapOrdered: a rejection is thrown at its position, after the calls in flight settle', async (t) => {
  const seen: number[] = []
  let settled = 0
  await t.rejects((async () => {
    for await (const r of mapOrdered([1, 2, 3, 4], 4, async (n) => {
      await sleep(n === 2 ? 1 : 10)
      settled++
      if (n === 2) throw new Error('two')
      return n
    })) seen.push(r)
  })(), /two/)
  t.same(seen, [1])
  t.equal(settled, 4, 'every call in flight settled first')
})

t.test('mapOrdered: plain values (no promise) keep their place among results that take time', async (t) => {
  let release!: () => void
  const gate = new Promise<void>((resolve) => { release = resolve })
  const seen: string[] = []
  const run = (async () => {
    for await (const r of mapOrdered(['a', 'slow', 'b', 'c'], 10, (s) => s === 'slow' ? gate.then(() => s) : s)) seen.push(r)
  })()
  await sleep(20)
  t.same(seen, ['a'], 'a plain value with nothing before it passes at once; those after the slow one wait')
  release()
  await run
  t.same(seen, ['a', 'slow', 'b', 'c'])
})

t.test('mapOrdered: a call that throws at once is thrown at its position, after the results before it', async (t) => {
  const seen: number[] = []
  await t.rejects((async () => {
    for await (const r of mapOrdered([1, 2, 3], 4, (n) => {
      if (n === 3) throw new Error('three')
      return n === 1 ? sleep(10).then(() => n) : n
    })) seen.push(r)
  })(), /three/)
  t.same(seen, [1, 2], 'the results before it came out first, the one that took time included')
})
