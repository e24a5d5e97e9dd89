/**
 * A first-in, first-out queue whose `shift` costs O(1) however long the
 * queue is.
 *
 * Why not an array's `shift()`: V8 moves an array's start in place only
 * when no major collection is marking the heap; while one is, and in runs
 * that allocate much one often is, every `shift()` copies the rest of the
 * array, with a write barrier per element. The windows of the hash and
 * upload stages (1,024 and 4,096 records) and the upload stage's queues of
 * waiting uploads are that long when a file being read or stored holds up
 * the records behind it: a run after a 1% change spent ~30 ms of its main
 * thread in `Heap::WriteBarrierForRange` (perf), none with this queue.
 */
export class Fifo<T> {
  private items: (T | undefined)[] = []
  /** Index of the first item still queued; the slots before it are emptied. */
  private head = 0

  get length(): number {
    return this.items.length - this.head
  }

  push(item: T): void {
    this.items.push(item)
  }

  /** The first item, left queued; undefined when the queue is empty. */
  first(): T | undefined {
    return this.items[this.head]
  }

  /** Removes and returns the first item; undefined when the queue is empty. */
  shift(): T | undefined {
    if (this.head === this.items.length) return undefined
    const item = this.items[this.head]
    this.items[this.head++] = undefined // not kept alive by the queue
    if (this.head === this.items.length) {
      this.items.length = 0
      this.head = 0
    } else if (this.head >= COMPACT_AFTER && this.head * 2 >= this.items.length) {
      // Amortized: the items moved are at most as many as were shifted since the last move.
      this.items.copyWithin(0, this.head)
      this.items.length -= this.head
      this.head = 0
    }
    return item
  }

  /** Removes every item and returns them, first first. */
  drain(): T[] {
    const rest = this.items.slice(this.head) as T[]
    this.items = []
    this.head = 0
    return rest
  }
}

/** Emptied slots at the front tolerated before the items are moved down. */
const COMPACT_AFTER = 1024
