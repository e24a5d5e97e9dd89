import { deflateRawSync } from 'node:zlib'

/**
 * The sample judged: the first 16 KiB of the content. Deflating the sample
 * is the largest CPU cost of a cold run (more than SHA-256 of everything).
 * Measured on 15,000 files of /usr, /etc and /var: judging by the first
 * 16 KiB gave the same answer as judging by 64 KiB for every file, at a
 * quarter of the deflate time.
 */
export const GZIP_SAMPLE_BYTES = 16 * 1024

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
 * logs and binaries with tables come out at 20–80%. The 10% margin keeps
 * content that would save almost nothing from paying the gzip CPU on
 * every upload and restore.
 */
export const GZIP_MAX_RATIO = 0.9

/**
 * Deflate is slow on incompressible data (here about 30 µs per KiB, thirty
 * times its speed on text), and a backup holds much of it: archives, media,
 * encrypted files. So the byte entropy of the first 4 KiB is measured first
 * (a few µs): at 7.5 bits per byte or more the content is judged
 * incompressible without deflating. Random and compressed data measure
 * 7.9–8.0; text 4–5.5; executables 5–6.5. What this misjudges is data
 * whose bytes are evenly spread yet repeat at a distance (two copies of one
 * compressed block): 6 files of the 15,000 above (PNG, JPEG, gzip files
 * that deflate still shrinks by 10%); a wrong `false` costs only bytes.
 */
export const GZIP_PROBE_BYTES = 4 * 1024
export const GZIP_PROBE_MAX_ENTROPY = 7.5

/**
 * A sample of at least GZIP_SURE_MIN_BYTES whose byte entropy is at most
 * GZIP_SURE_ENTROPY is judged to pay without deflating it. Deflate codes
 * each byte with a Huffman code, whose average length is under the entropy
 * plus one bit, and its LZ77 matches only shorten that: at most 6.5 bits a
 * byte, 81%, plus a block header of about a hundred bytes, well under 90%
 * for 4 KiB and more. Text measures 4–5.5, so most text files skip the
 * deflate (about 80 µs of the main thread each).
 */
export const GZIP_SURE_ENTROPY = 5.5
export const GZIP_SURE_MIN_BYTES = 4 * 1024

/**
 * Whether gzip encoding pays for content whose first bytes are `sample`:
 * the first GZIP_SAMPLE_BYTES, or the whole content when it is shorter.
 * Synchronous: at most one 16 KiB deflate at level 1 (a fraction of a
 * millisecond), cheaper on the main thread than the hand-off to zlib's
 * thread-pool API, which measured at two to three times the CPU.
 */
export function gzipPays(sample: Buffer): boolean {
  if (sample.length < GZIP_MIN_BYTES) return false
  const probed = Math.min(sample.length, GZIP_PROBE_BYTES)
  countBytes(sample, 0, probed, true)
  if (entropyOfCounts(probed) >= GZIP_PROBE_MAX_ENTROPY) return false
  if (sample.length >= GZIP_SURE_MIN_BYTES) {
    // The probe's bytes are counted already: count the rest of the sample on top.
    countBytes(sample, probed, sample.length, false)
    if (entropyOfCounts(sample.length) <= GZIP_SURE_ENTROPY) return true
  }
  const deflated = deflateRawSync(sample, { level: 1 })
  return deflated.length + GZIP_FRAMING_BYTES <= GZIP_MAX_RATIO * sample.length
}

const counts = new Uint32Array(256)

/** Shannon entropy of the byte values of `bytes`, in bits per byte (0 to 8). */
export function entropyBitsPerByte(bytes: Uint8Array): number {
  countBytes(bytes, 0, bytes.length, true)
  return entropyOfCounts(bytes.length)
}

/** Adds the byte values of `bytes[from, to)` to `counts`, emptied first when `fresh`. */
function countBytes(bytes: Uint8Array, from: number, to: number, fresh: boolean): void {
  if (fresh) counts.fill(0)
  for (let i = from; i < to; i++) counts[bytes[i]!]!++
}

/** Shannon entropy, in bits per byte, of the `n` bytes counted in `counts`. */
function entropyOfCounts(n: number): number {
  let bits = 0
  for (let v = 0; v < 256; v++) {
    const c = counts[v]!
    if (c !== 0) bits -= (c / n) * Math.log2(c / n)
  }
  return bits
}
