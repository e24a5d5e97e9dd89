/** Thrown by splitLines for a line that breaks a framing rule. */
export class LineError extends Error {
  constructor(readonly lineNumber: number, message: string) {
    super(message)
  }
}

export interface Line {
  /** 1-based. */
  number: number
  bytes: Buffer
}

/**
 * Splits a byte stream into lines on `separator` (default `\n`), without the
 * separator. A final line without a separator is still yielded. A line longer
 * than `maxBytes` is an error as soon as it is known to be too long, so a
 * stream with no separators cannot grow memory without bound.
 */
export async function* splitLines(
  chunks: AsyncIterable<Buffer | string>,
  maxBytes: number,
  separator = 0x0a,
): AsyncGenerator<Line> {
  let number = 0
  for await (const batch of splitLineBatches(chunks, maxBytes, separator)) {
    for (const bytes of batch) yield { number: ++number, bytes }
  }
}

/**
 * splitLines, the lines of each chunk in one batch: a reader of many short
 * lines then waits once per chunk, not once per line (a line that ends in
 * a later chunk comes in that chunk's batch). Before a LineError, the
 * lines ahead of the long one are yielded, as splitLines yields them.
 */
export async function* splitLineBatches(
  chunks: AsyncIterable<Buffer | string>,
  maxBytes: number,
  separator = 0x0a,
): AsyncGenerator<Buffer[]> {
  let pending: Buffer[] = []
  let pendingBytes = 0
  let number = 0
  for await (const raw of chunks) {
    const chunk = typeof raw === 'string' ? Buffer.from(raw) : raw
    const batch: Buffer[] = []
    let start = 0
    for (;;) {
      const end = chunk.indexOf(separator, start)
      if (end < 0) break
      number++
      let bytes = chunk.subarray(start, end)
      if (pendingBytes > 0) {
        bytes = Buffer.concat([...pending, bytes])
        pending = []
        pendingBytes = 0
      }
      if (bytes.length > maxBytes) {
        if (batch.length > 0) yield batch
        throw tooLong(number, maxBytes)
      }
      batch.push(bytes)
      start = end + 1
    }
    if (batch.length > 0) yield batch
    if (start < chunk.length) {
      // Copy: the rest of the chunk may be reused by the stream.
      const rest = Buffer.from(chunk.subarray(start))
      pending.push(rest)
      pendingBytes += rest.length
      if (pendingBytes > maxBytes) throw tooLong(number + 1, maxBytes)
    }
  }
  if (pendingBytes > 0) {
    yield [Buffer.concat(pending)]
  }
}

function tooLong(number: number, maxBytes: number): LineError {
  return new LineError(number, `line is longer than the limit of ${maxBytes} bytes`)
}
