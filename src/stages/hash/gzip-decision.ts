import { deflateRaw, constants } from 'node:zlib'
import { promisify } from 'node:util'

const deflateRawAsync = promisify(deflateRaw)

/** The sample judged: the first 64 KiB of the content. */
export const GZIP_SAMPLE_BYTES = 64 * 1024

/**
 * Content shorter than this is never gzipped. Below 256 bytes the most a
 * compressor can save is about a hundred bytes per object, which is noise
 * next to the per-object cost S3 bills (requests, and metadata stored with
 * each object), while it still costs CPU on upload and a `gunzip` step for
 * whoever restores by hand.
 */
export const GZIP_MIN_BYTES = 256

/** gzip's own header and trailer around the deflate stream (RFC 1952). */
const GZIP_FRAMING_BYTES = 18

/**
 * gzip pays when the sample, deflated at level 1 and framed, is at most 90%
 * of its size. Level 1 is the fastest setting and compresses least, so a
 * sample that clears 10% at level 1 does at least as well at the level the
 * content is uploaded with. Random and already-compressed data (JPEG,
 * zip, xz, encrypted files) comes out at 97–101% and is rejected; text,
 * logs and binaries with tables come out at 20–70%. The 10% margin keeps
 * content that would save almost nothing from paying the gzip CPU on
 * every upload and restore.
 */
export const GZIP_MAX_RATIO = 0.9

/**
 * Deflate is about ten times slower on incompressible data than on text,
 * and a backup holds much of it (compressed archives, media, encrypted
 * files). So the first 4 KiB are tried alone first: when they do not shrink
 * by 5%, the content is judged incompressible without deflating the rest of
 * the sample. Data that is random for its first 4 KiB and repetitive after
 * is misjudged; it is rare, and the cost of a wrong `false` is only bytes.
 */
export const GZIP_PROBE_BYTES = 4 * 1024
const GZIP_PROBE_MAX_RATIO = 0.95

/**
 * Whether gzip encoding pays for content whose first bytes are `sample`:
 * the first GZIP_SAMPLE_BYTES, or the whole content when it is shorter.
 * Deflates on libuv's thread pool, so hashing on the main thread goes on
 * meanwhile; `sample` must not be modified until the promise settles.
 */
export async function gzipPays(sample: Buffer): Promise<boolean> {
  if (sample.length < GZIP_MIN_BYTES) return false
  if (sample.length > 2 * GZIP_PROBE_BYTES && !await shrinks(sample.subarray(0, GZIP_PROBE_BYTES), GZIP_PROBE_MAX_RATIO)) return false
  return shrinks(sample, GZIP_MAX_RATIO)
}

/** Whether `bytes`, deflated at level 1 and gzip-framed, come to at most `ratio` of their size. */
async function shrinks(bytes: Buffer, ratio: number): Promise<boolean> {
  const deflated = await deflateRawAsync(bytes, { level: 1, strategy: constants.Z_DEFAULT_STRATEGY })
  return deflated.length + GZIP_FRAMING_BYTES <= ratio * bytes.length
}
