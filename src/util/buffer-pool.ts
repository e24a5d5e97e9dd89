/**
 * Buffers kept for reuse, in power-of-two sizes from 4 KiB, up to
 * `maxBytes` held in all. Why: every buffer of 4 KiB and more lives
 * outside the JS heap, and V8 starts a full collection for each 64 MiB
 * more of such memory held than at the last one. A first backup that read
 * each file into a new buffer drove 37 full collections of a ~50 MB heap in
 * a 29 s run, on the main thread and on V8's helper threads (~5 s of CPU
 * on a 2-core machine whose every core is busy).
 *
 * A buffer is given back only once nothing else can still read or write
 * it: a caller that is unsure (an error midway, a request abandoned) drops
 * it instead, and the collector takes it as before.
 */
export class BufferPool {
  private readonly free = new Map<number, Buffer[]>()
  private held = 0

  constructor(private readonly maxBytes: number) {}

  /** A buffer of at least `length` bytes (its own memory, unshared: contents undefined). */
  take(length: number): Buffer {
    const size = sizeClass(length)
    const buffer = this.free.get(size)?.pop()
    if (buffer === undefined) return Buffer.allocUnsafeSlow(size)
    this.held -= size
    return buffer
  }

  /** Keeps a buffer from take() for a later take, while the pool has room. */
  give(buffer: Buffer): void {
    if (this.held + buffer.length > this.maxBytes || buffer.length !== sizeClass(buffer.length)) return
    let list = this.free.get(buffer.length)
    if (list === undefined) this.free.set(buffer.length, list = [])
    list.push(buffer)
    this.held += buffer.length
  }
}

const MIN_SIZE = 4096

function sizeClass(length: number): number {
  return length <= MIN_SIZE ? MIN_SIZE : 2 ** Math.ceil(Math.log2(length))
}
