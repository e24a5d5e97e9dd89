import t from 'tap'
import { Fifo } from '../../src/util/fifo.js'

t.test('Fifo: first in, first out, across compactions, pushes interleaved with shifts', async (t) => {
  const q = new Fifo<number>()
  t.equal(q.length, 0)
  t.equal(q.shift(), undefined, 'empty')
  t.equal(q.first(), undefined)
  // A model array alongside, through enough shifts to move the items down many times.
  const model: number[] = []
  let next = 0
  for (let round = 0; round < 200; round++) {
    for (let i = 0; i < 50; i++) {
      q.push(next)
      model.push(next++)
    }
    for (let i = 0; i < 40 + (round % 20); i++) {
      t.equal(q.first(), model[0])
      const got = q.shift()
      const want = model.shift()
      if (got !== want) {
        t.fail(`round ${round}: got ${got}, want ${want}`)
        return
      }
    }
    if (q.length !== model.length) {
      t.fail(`round ${round}: length ${q.length}, want ${model.length}`)
      return
    }
  }
  t.ok(next > 4 * 1024, 'enough items to pass the compaction threshold several times')
  t.same(q.drain(), model, 'drain returns what is left, in order')
  t.equal(q.length, 0, 'and empties the queue')
  q.push(7)
  t.equal(q.shift(), 7, 'usable after draining')
})

t.test('Fifo: a shifted item is no longer held by the queue', async (t) => {
  const q = new Fifo<object>()
  for (let i = 0; i < 3000; i++) q.push({ i })
  for (let i = 0; i < 2500; i++) q.shift()
  // What the queue holds is only what is still queued (read through its own fields).
  const items = (q as unknown as { items: unknown[], head: number })
  const held = items.items.filter((x) => x !== undefined).length
  t.equal(held, 500)
  t.equal(q.length, 500)
})
