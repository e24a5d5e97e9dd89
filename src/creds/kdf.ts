import { scrypt } from 'node:crypto'

/**
 * Parameters of the password key derivation (scrypt, RFC 7914). They are
 * stored in every package header, so the defaults can be raised in later
 * releases while older packages keep opening with the parameters they were
 * written with.
 */
export interface KdfParams {
  /** log2 of scrypt's cost N (N must be a power of two). */
  log2N: number
  /** Block size r. */
  r: number
  /** Parallelism p. */
  p: number
}

/**
 * The parameters new packages are written with: N = 2^18, r = 8, p = 1,
 * i.e. 128·N·r = 256 MiB of memory and about 0.9 s per guess on the
 * project's 2-core reference machine (`npm run bench:kdf` measures it).
 */
export const DEFAULT_KDF: Readonly<KdfParams> = Object.freeze({ log2N: 18, r: 8, p: 1 })

/** Length of the derived key: AES-256. */
export const KEY_BYTES = 32

/**
 * Limits on parameters read from a file. A header asking for more is
 * refused before any work is done, so an altered or hostile file cannot make
 * the reader allocate without bound or spin for hours.
 */
export const KDF_LIMITS = Object.freeze({
  maxLog2N: 32,
  maxR: 1024,
  maxP: 16,
  /** Limit on scrypt's working memory, 128·N·r bytes. */
  maxMemoryBytes: 4 * 1024 ** 3,
})

/** Bytes of memory scrypt needs for these parameters (as OpenSSL computes it). */
export function kdfMemoryBytes(params: KdfParams): number {
  return 128 * params.r * (2 ** params.log2N + 2 + params.p)
}

/** Why these parameters are unacceptable, or null when they are fine. */
export function kdfParamsProblem(params: KdfParams): string | null {
  const { log2N, r, p } = params
  if (!Number.isInteger(log2N) || log2N < 1 || log2N > KDF_LIMITS.maxLog2N) return `scrypt log2(N) = ${log2N} is outside 1..${KDF_LIMITS.maxLog2N}`
  if (!Number.isInteger(r) || r < 1 || r > KDF_LIMITS.maxR) return `scrypt r = ${r} is outside 1..${KDF_LIMITS.maxR}`
  if (!Number.isInteger(p) || p < 1 || p > KDF_LIMITS.maxP) return `scrypt p = ${p} is outside 1..${KDF_LIMITS.maxP}`
  // RFC 7914 requires N < 2^(128·r/8).
  if (log2N >= 16 * r) return `scrypt log2(N) = ${log2N} is not below 16·r = ${16 * r}`
  const memory = 128 * r * 2 ** log2N
  if (memory > KDF_LIMITS.maxMemoryBytes) {
    return `scrypt N = 2^${log2N}, r = ${r} needs ${Math.ceil(memory / 1024 ** 2)} MiB, more than the ${KDF_LIMITS.maxMemoryBytes / 1024 ** 2} MiB this version allows`
  }
  return null
}

/**
 * Derives the 32-byte key from the password and salt. Asynchronous (the
 * work runs on libuv's thread pool), so a caller can show progress. The
 * caller owns both the password and the returned key and should zero them
 * (`buf.fill(0)`) once used. Throws RangeError for parameters that
 * kdfParamsProblem() rejects.
 */
export async function deriveKey(password: Uint8Array, salt: Uint8Array, params: KdfParams): Promise<Buffer> {
  const problem = kdfParamsProblem(params)
  if (problem) throw new RangeError(problem)
  // Node's default maxmem is 32 MiB; allow exactly what these parameters need, plus slack.
  const maxmem = kdfMemoryBytes(params) + 1024 * 1024
  return new Promise((resolve, reject) => {
    scrypt(password, salt, KEY_BYTES, { N: 2 ** params.log2N, r: params.r, p: params.p, maxmem }, (err, key) => {
      if (err) reject(err)
      else resolve(key)
    })
  })
}
