import { gunzipSync, inflateRawSync } from 'node:zlib'

/** zlib's smallest output chunk (zlib.constants.Z_MIN_CHUNK). */
const MIN_CHUNK = 64

/** A gzip header with no optional fields (RFC 1952, 2.3), as Node and gzip(1) write it: 10 bytes. */
const PLAIN_HEADER_BYTES = 10
/** A member's trailer: CRC-32 and size. */
const TRAILER_BYTES = 8
const FLAGS_OFFSET = 3

/**
 * Decodes a gzip body held whole that should decode to `expectedSize`
 * bytes (when known), to at most `maxOutputLength` bytes
 * (ERR_BUFFER_TOO_LARGE beyond).
 *
 * The caller checks what this returns against the content's SHA-256 and
 * size: that check, not gzip's CRC-32, is what says the content is whole.
 * So a body with a plain header is inflated raw, without the CRC, into one
 * buffer of the expected size; whatever else happens (a header with
 * optional fields, several members, damage, another size) is decoded again
 * by gunzip, which checks everything and says what is wrong. Measured on
 * 6,000 gzip bodies of the bench tree (220 MiB decoded): 0.51 s against
 * 0.87 s for gunzipSync with its default 16 KiB chunks, whose output is
 * then copied into one buffer, and 0.62 s for gunzipSync into one buffer.
 */
export function gunzipWhole(body: Buffer, expectedSize: number | undefined, maxOutputLength: number): Buffer {
  const chunkSize = expectedSize === undefined ? undefined : Math.max(MIN_CHUNK, Math.min(expectedSize + 1, maxOutputLength))
  if (chunkSize !== undefined && hasPlainHeader(body)) {
    try {
      const data = inflateRawSync(body.subarray(PLAIN_HEADER_BYTES, body.length - TRAILER_BYTES), { chunkSize, maxOutputLength })
      if (data.length === expectedSize) return data
    } catch {
      // gunzip below says what is wrong
    }
  }
  return gunzipSync(body, { maxOutputLength, ...(chunkSize !== undefined && { chunkSize }) })
}

function hasPlainHeader(body: Buffer): boolean {
  return body.length >= PLAIN_HEADER_BYTES + TRAILER_BYTES && body[0] === 0x1f && body[1] === 0x8b && body[2] === 8 && body[FLAGS_OFFSET] === 0
}
