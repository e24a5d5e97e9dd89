import { Fifo } from './fifo.js'

/**
 * Maps `fn` over `source` with at most `limit` calls in flight, yielding
 * results in input order. The source is pulled only as fast as results are
 * consumed (plus the window), so memory stays bounded by `limit`. A
 * rejection from `fn` is rethrown at its position in the order, after the
 * calls already in flight have settled.
 *
 * `fn` may answer at once with a plain value (a cache hit): that value
 * costs no promise, and is yielded as soon as the results before it are.
 */
export async function* mapOrdered<T, R>(
  source: AsyncIterable<T> | Iterable<T>,
  limit: number,
  fn: (item: T) => R | Promise<R>,
): AsyncGenerator<R> {
  if (limit < 1) throw new RangeError('limit must be at least 1')
  const window = new Fifo<{ result: R | Promise<R>, settled: boolean }>()
  // `yield x` awaits x in an async generator: a rejection is thrown here, at its turn.
  try {
    for await (const item of source) {
      let result: R | Promise<R>
      try {
        result = fn(item)
      } catch (err) {
        // Thrown at once: still rethrown at its position, after the results before it.
        result = Promise.reject(err)
      }
      if (!(result instanceof Promise)) {
        if (window.length === 0) {
          yield result
          continue
        }
        window.push({ result, settled: true })
      } else {
        const call = { result, settled: false }
        // Rejections are observed when their turn comes; this also avoids unhandled-rejection noise meanwhile.
        result.then(() => { call.settled = true }, () => { call.settled = true })
        window.push(call)
      }
      if (window.length >= limit) yield window.shift()!.result
      // Results ready at the head are passed on without waiting for the
      // window to fill: a window of thousands (sysbackup-upload's) held
      // that many finished records for nothing.
      while (window.length > 0 && window.first()!.settled) yield window.shift()!.result
    }
    while (window.length > 0) yield window.shift()!.result
  } finally {
    await Promise.allSettled(window.drain().map((call) => call.result))
  }
}

/**
 * Like mapOrdered, but yields each result as soon as it is ready, whatever
 * its position. For work whose output order does not matter.
 */
export async function* mapUnordered<T, R>(
  source: AsyncIterable<T> | Iterable<T>,
  limit: number,
  fn: (item: T) => Promise<R>,
): AsyncGenerator<R> {
  if (limit < 1) throw new RangeError('limit must be at least 1')
  const inFlight = new Map<number, Promise<{ id: number, result: R }>>()
  let nextId = 0
  try {
    for await (const item of source) {
      const id = nextId++
      const p = fn(item).then((result) => ({ id, result }))
      p.catch(() => {})
      inFlight.set(id, p)
      if (inFlight.size >= limit) {
        const done = await Promise.race(inFlight.values())
        inFlight.delete(done.id)
        yield done.result
      }
    }
    while (inFlight.size > 0) {
      const done = await Promise.race(inFlight.values())
      inFlight.delete(done.id)
      yield done.result
    }
  } finally {
    await Promise.allSettled(inFlight.values())
  }
}

/**
 * `promise`, or a rejection with `signal`'s reason as soon as it aborts,
 * whichever comes first. Unlike `Promise.race([promise, aborted])` with
 * one long-lived `aborted` promise, nothing is left behind: each race there
 * adds a reaction to `aborted` that holds the race's result until `aborted`
 * settles, which is never in a run that is not interrupted (the upload
 * stage held every output record that way: 300 MB at 100,000 files).
 */
export function unlessAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) return Promise.reject(signal.reason)
  return new Promise<T>((resolve, reject) => {
    const onAbort = () => reject(signal.reason)
    signal.addEventListener('abort', onAbort, { once: true })
    promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value) },
      (err: unknown) => { signal.removeEventListener('abort', onAbort); reject(err) },
    )
  })
}
