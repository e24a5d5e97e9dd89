import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'

/** Times a body cut off mid-transfer is resumed before its error is passed on. */
export const MAX_BODY_RESUMES = 5
/** Delay before the first resume; doubled for each further one. */
const FIRST_DELAY_MS = 100

/**
 * A GetObject body that survives being cut off. The SDK retries a request
 * until its response headers arrive, but a body that breaks off after that
 * (a connection reset, a proxy closing early: fewer bytes than
 * Content-Length) reaches the reader as a stream error, and every reader —
 * restore, a manifest read — would fail an item for a transient fault.
 *
 * This stream passes `first` through; when it errors, or ends before
 * `size` bytes, it asks `rest(offset)` for the remainder (a ranged GET of
 * the same version) and goes on, up to MAX_BODY_RESUMES times with
 * doubling delays, then passes the last error on. The bytes are the
 * version's, unchanged: readers verify hashes as before.
 */
export function resumingBody(first: Readable, size: number, rest: (offset: number) => Promise<Readable>): Readable {
  return Readable.from(resumingChunks(first, size, rest), { objectMode: false })
}

/**
 * The whole of a body that resumes as resumingBody's does, in one buffer
 * of its own: for bodies small enough to hold (the caller checks `size`).
 * Rejects with the error resumingBody would pass on.
 */
export async function readResumingBody(first: Readable, size: number, rest: (offset: number) => Promise<Readable>): Promise<Buffer> {
  const chunks: Buffer[] = []
  let length = 0
  for await (const chunk of resumingChunks(first, size, rest)) {
    chunks.push(chunk)
    length += chunk.length
  }
  return Buffer.concat(chunks, length)
}

/** The chunks of `first`, and of `rest(offset)` wherever it breaks off (see resumingBody). */
async function* resumingChunks(first: Readable, size: number, rest: (offset: number) => Promise<Readable>): AsyncGenerator<Buffer> {
  let body = first
  let offset = 0
  for (let resumes = 0; ; resumes++) {
    let failure: unknown
    try {
      for await (const chunk of body) {
        offset += (chunk as Buffer).length
        yield chunk as Buffer
      }
      if (offset >= size) return
      failure = new Error(`the body ended after ${offset} of ${size} bytes`)
    } catch (err) {
      failure = err
    }
    if (resumes >= MAX_BODY_RESUMES) throw failure
    await sleep(FIRST_DELAY_MS * 2 ** resumes)
    body = await rest(offset)
  }
}
