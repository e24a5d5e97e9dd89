import t from 'tap'
import { Limiter } from '../../src/util/limiter.js'

const tick = () => new Promise((r) => setImmediate(r))

function gate() {
  let open!: () => void
  const opened = new Promise<void>((resolve) => { open = resolve })
  return { open, opened }
}

t.test('never more than the capacity held; waiters served in order', async (t) => {
  const limiter = new Limiter(10)
  let held = 0
  let peak = 0
  const order: string[] = []
  const gates = new Map<string, ReturnType<typeof gate>>()
  const job = (name: string, weight: number) => {
    const g = gate()
    gates.set(name, g)
    return limiter.run(weight, async () => {
      held += weight
      peak = Math.max(peak, held)
      order.push(name)
      await g.opened
      held -= weight
    })
  }
  const all = [job('a', 6), job('b', 4), job('c', 8), job('d', 1)]
  await tick()
  t.same(order, ['a', 'b'], 'a and b fit; c waits, and d waits behind it')
  t.equal(limiter.waitingCount, 2)
  gates.get('a')!.open()
  await tick()
  t.same(order, ['a', 'b'], 'c (8) still does not fit beside b (4)')
  gates.get('b')!.open()
  await tick()
  t.same(order, ['a', 'b', 'c', 'd'])
  t.equal(limiter.waitingCount, 0)
  gates.get('c')!.open()
  gates.get('d')!.open()
  await Promise.all(all)
  t.ok(peak <= 10, `peak ${peak}`)
})

t.test('a weight above the capacity runs alone', async (t) => {
  const limiter = new Limiter(4)
  const order: string[] = []
  const small = gate()
  const first = limiter.run(1, async () => { order.push('small'); await small.opened })
  const huge = limiter.run(100, async () => { order.push('huge') })
  await tick()
  t.same(order, ['small'])
  small.open()
  await Promise.all([first, huge])
  t.same(order, ['small', 'huge'])
})

t.test('an aborted signal refuses every wait with its reason, and later ones at once', async (t) => {
  const controller = new AbortController()
  const limiter = new Limiter(1, controller.signal)
  const hold = gate()
  const first = limiter.run(1, () => hold.opened)
  const waiting = [limiter.run(1, async () => 'never'), limiter.run(1, async () => 'never')]
  controller.abort(new Error('stop'))
  for (const w of waiting) await t.rejects(w, { message: 'stop' })
  await t.rejects(limiter.run(1, async () => 1), { message: 'stop' }, 'already aborted: refused at once')
  hold.open()
  await first
})
