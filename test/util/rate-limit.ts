import t from 'tap'
import { formatRate, parseRate, RateLimiter, type RateClock } from '../../src/util/rate-limit.js'

/** A clock that moves only when someone sleeps on it (or the test says). */
function fakeClock(): RateClock & { at: number, sleeps: number[] } {
  const clock = {
    at: 1_000_000,
    sleeps: [] as number[],
    now: () => clock.at,
    sleep: async (ms: number) => { clock.sleeps.push(ms); clock.at += ms },
  }
  return clock
}

t.test('rates as people write them', async (t) => {
  t.equal(parseRate('100'), 100)
  t.equal(parseRate('512K'), 512 * 1024)
  t.equal(parseRate('512k'), 512 * 1024)
  t.equal(parseRate('4M'), 4 * 1024 ** 2)
  t.equal(parseRate('2.5M'), 2.5 * 1024 ** 2)
  t.equal(parseRate('1G/s'), 1024 ** 3)
  t.equal(parseRate('10MiB'), 10 * 1024 ** 2)
  t.equal(parseRate(' 3 K '), 3 * 1024)
  t.equal(parseRate('0'), 0, 'no limit')
  for (const bad of ['', 'fast', '-1M', '4T', '4 MB', '1e6', 'M', '4M/h']) t.equal(parseRate(bad), null, `"${bad}" is not a rate`)
  t.equal(formatRate(4 * 1024 ** 2), '4 MiB/s')
  t.equal(formatRate(1536), '1.5 KiB/s')
  t.equal(formatRate(100), '100 B/s')
})

t.test('bytes are booked one after the other at the rate, after a burst', async (t) => {
  const clock = fakeClock()
  const limiter = new RateLimiter(1000, 0.25, clock)
  await limiter.take(250)
  t.same(clock.sleeps, [], 'the burst goes at once')
  await limiter.take(1000)
  t.same(clock.sleeps, [1000], 'then each byte waits its turn')
  // Concurrent takers share the rate: booked in order of asking.
  const sleepsBefore = clock.sleeps.length
  const started = clock.at
  const waits: number[] = []
  const sleep = clock.sleep
  clock.sleep = async (ms) => { waits.push(ms); await sleep(ms) }
  const at = clock.at
  clock.now = () => at // both ask at the same instant
  await Promise.all([limiter.take(500), limiter.take(500)])
  t.same(waits, [500, 1000], 'the second waits for the first one\'s bytes too')
  t.equal(clock.sleeps.length, sleepsBefore + 2)
  t.ok(clock.at >= started, 'time only moves forward')
  // Held back 1 s, then 1 s more while the two waited together (0.5 s and 1 s): the time, not the sum of waits.
  t.equal(limiter.heldMs, 2000)
})

t.test('credit does not pile up while nothing is sent: at most the burst goes at once', async (t) => {
  const clock = fakeClock()
  const limiter = new RateLimiter(1000, 0.25, clock)
  clock.at += 3_600_000
  await limiter.take(1000)
  t.same(clock.sleeps, [750], 'an hour idle buys no more than 0.25 s of the rate')
})

t.test('over a long run the average stays at the rate, whatever the sizes', async (t) => {
  const clock = fakeClock()
  const limiter = new RateLimiter(10_000, 0.25, clock)
  const start = clock.at
  let bytes = 0
  for (let i = 0; i < 500; i++) {
    const n = (i * 7919) % 4000 + 1
    await limiter.take(n)
    bytes += n
    clock.at += (i % 3) // a little time passes between takes, as work does
  }
  const seconds = (clock.at - start) / 1000
  t.ok(bytes <= 10_000 * (seconds + 0.25), `${bytes} bytes in ${seconds.toFixed(2)} s: within the rate and the burst`)
  t.ok(bytes >= 10_000 * (seconds - 1), 'and not held far below it')
})

t.test('throttle lets a stream through in pieces of at most 256 KiB, each paid for', async (t) => {
  const clock = fakeClock()
  const limiter = new RateLimiter(1024 * 1024, 0, clock)
  async function* source() {
    yield Buffer.alloc(600 * 1024, 1)
    yield Buffer.alloc(10, 2)
  }
  const pieces: number[] = []
  for await (const piece of limiter.throttle(source())) pieces.push(piece.length)
  t.same(pieces, [256 * 1024, 256 * 1024, 88 * 1024, 10], 'cut, in order, nothing lost')
  t.equal(Math.round(clock.at - 1_000_000), Math.round((600 * 1024 + 10) / (1024 * 1024) * 1000), 'without a burst, each piece waits its own time at the rate')
})

t.test('a rate must be positive', async (t) => {
  t.throws(() => new RateLimiter(0), RangeError)
})
