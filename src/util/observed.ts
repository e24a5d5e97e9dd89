/**
 * `source`'s values as they come, each shown to `onValue` on its way, and
 * `onEnd` called once `source` has ended: what
 * `for await (const v of source) { onValue(v); yield v }; onEnd()` does in
 * an async generator, without the generator. Every async generator a value
 * passes through costs it several promises, and a record of an archive run
 * passes through a dozen; this costs one.
 *
 * A throw from `onValue` or `onEnd` rejects that `next()`; after one from
 * `onValue`, `source` is closed, as a for-await loop closes it when its
 * body throws. `return()` closes `source`.
 */
export function observed<T>(source: AsyncIterable<T>, onValue: (value: T) => void, onEnd?: () => void): AsyncIterableIterator<T> {
  const inner = source[Symbol.asyncIterator]()
  const iterator: AsyncIterableIterator<T> = {
    [Symbol.asyncIterator]: () => iterator,
    next: () => inner.next().then((n) => {
      if (n.done === true) {
        onEnd?.()
        return n
      }
      try {
        onValue(n.value)
      } catch (err) {
        void inner.return?.()?.catch(() => {})
        throw err
      }
      return n
    }),
    return: async (value?: unknown) => {
      await inner.return?.()
      return { done: true, value }
    },
  }
  return iterator
}
