/**
 * Cutting a body of unknown length into multipart-upload parts, with memory
 * bounded by the parts themselves.
 */

/** S3's smallest part (all but the last), largest part, and most parts. */
export const MIN_PART_SIZE = 5 * 1024 * 1024
export const MAX_PART_SIZE = 5 * 1024 * 1024 * 1024
export const MAX_PARTS = 10_000
/** Default part size of multipart uploads: as the AWS CLI's. */
export const DEFAULT_PART_SIZE = 8 * 1024 * 1024
/** Parts between doublings of the part size. */
const PARTS_PER_DOUBLING = 1000

/**
 * The size of part `partNumber` (1-based): `base` for the first 1000 parts,
 * then doubling every 1000 parts (capped at S3's 5 GiB), so a stream of
 * unknown length is not limited to 10,000 × base bytes (8 MiB parts would
 * stop at 78 GiB; growing, they reach S3's 5 TiB object limit). Memory
 * grows with it only for bodies above 1000 × base.
 */
export function partSizeFor(partNumber: number, base: number): number {
  const doublings = Math.floor((partNumber - 1) / PARTS_PER_DOUBLING)
  return Math.min(base * 2 ** doublings, MAX_PART_SIZE)
}

/** How many parts a body of `size` bytes takes (at least one). */
export function partCount(size: number, base: number): number {
  let parts = 0
  let remaining = size
  do {
    parts++
    remaining -= partSizeFor(parts, base)
  } while (remaining > 0)
  return parts
}

/**
 * Reads an async iterable of Buffers in parts of a requested size. Holds at
 * most one input chunk beyond the part it is filling, so the caller
 * controls memory by when it asks for the next part.
 */
export class PartReader {
  private readonly iterator: AsyncIterator<Buffer>
  private leftover: Buffer | null = null
  private ended = false
  /** Bytes taken from the source so far. */
  pulled = 0

  constructor(source: AsyncIterable<Buffer>) {
    this.iterator = source[Symbol.asyncIterator]()
  }

  /** The next part: exactly `size` bytes, fewer only at the end; null once the body is exhausted. */
  async read(size: number): Promise<Buffer | null> {
    if (await this.atEnd()) return null
    const part = Buffer.allocUnsafe(size)
    let filled = 0
    while (filled < size) {
      const chunk = await this.nextChunk()
      if (chunk === null) break
      const take = Math.min(size - filled, chunk.length)
      chunk.copy(part, filled, 0, take)
      filled += take
      if (take < chunk.length) this.leftover = chunk.subarray(take)
    }
    return filled === size ? part : part.subarray(0, filled)
  }

  /** True when the body has no more bytes; may read (and keep) one chunk ahead to find out. */
  async atEnd(): Promise<boolean> {
    if (this.leftover !== null) return false
    if (this.ended) return true
    const chunk = await this.nextChunk()
    if (chunk === null) return true
    this.leftover = chunk
    return false
  }

  /** Stops reading: lets the source clean up (its `finally` blocks run). */
  async close(): Promise<void> {
    this.leftover = null
    if (!this.ended) {
      this.ended = true
      await this.iterator.return?.()
    }
  }

  private async nextChunk(): Promise<Buffer | null> {
    if (this.leftover !== null) {
      const chunk = this.leftover
      this.leftover = null
      return chunk
    }
    while (!this.ended) {
      const { value, done } = await this.iterator.next()
      if (done) {
        this.ended = true
        return null
      }
      const chunk = Buffer.isBuffer(value) ? value : Buffer.from(value as Uint8Array)
      this.pulled += chunk.length
      if (chunk.length > 0) return chunk
    }
    return null
  }
}
