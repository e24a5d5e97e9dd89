import { ConfigError } from '../cli/errors.js'
import { formatRate, parseRate, RateLimiter } from '../util/rate-limit.js'
import type { PutOptions, PutStreamOptions, Store } from './store.js'

/**
 * The `--limit-upload RATE` option of the commands that store objects
 * (one wording everywhere; `[s3] limit_upload` in the configuration).
 */
export const LIMIT_UPLOAD_OPTION = {
  name: 'limit-upload',
  type: 'string',
  arg: 'RATE',
  help: 'send at most RATE bytes a second to the store, e.g. 512K, 4M (binary units; 0: no limit; default: [s3] limit_upload)',
} as const

/**
 * The upload limit in bytes per second from `--limit-upload` (`option`),
 * else `[s3] limit_upload` (`setting`, from `where`); 0 for none. Throws
 * ConfigError (exit 2) for a value that is not a rate.
 */
export function uploadLimitOf(option: string | undefined, setting: string | undefined, where: string): number {
  const text = option ?? setting
  if (text === undefined) return 0
  const rate = parseRate(text)
  if (rate === null) {
    const what = option !== undefined ? '--limit-upload' : `${where}: [s3] limit_upload`
    throw new ConfigError(`${what} "${text}" is not a rate: give bytes a second, with K, M or G for KiB, MiB or GiB (e.g. 512K, 4M)`)
  }
  return rate
}

/** One limiter per rate in this process: the stages an archive runs inside one process share it. */
const limiters = new Map<number, RateLimiter>()

/** Milliseconds this process's upload limit has held uploads back so far (0 with no limit): see RateLimiter.heldMs. */
export function limitHeldMs(): number {
  let held = 0
  for (const limiter of limiters.values()) held = Math.max(held, limiter.heldMs)
  return held
}

/** The process's limiter for `bytesPerSecond`. */
export function sharedLimiter(bytesPerSecond: number): RateLimiter {
  let limiter = limiters.get(bytesPerSecond)
  if (limiter === undefined) limiters.set(bytesPerSecond, limiter = new RateLimiter(bytesPerSecond))
  return limiter
}

/**
 * `store` with every byte it is given to store (putBuffer's and
 * putStream's bodies) held to `limiter`'s rate; reads, listings and
 * retention changes are not limited (they carry almost no bytes up). A
 * buffer waits for its whole size before its request is sent; a stream is
 * let through chunk by chunk, so a snapshot program's dump is slowed to
 * the rate rather than held in memory.
 */
export function limitUploads(store: Store, limiter: RateLimiter): Store {
  const limited: Store = {
    id: store.id,
    cacheId: store.cacheId,
    requests: store.requests,
    listVersions: (prefix) => store.listVersions(prefix),
    listLatest: (prefix) => store.listLatest(prefix),
    head: (key, versionId) => store.head(key, versionId),
    get: (key, versionId) => store.get(key, versionId),
    putBuffer: async (key: string, body: Buffer, opts: PutOptions) => {
      await limiter.take(body.length)
      return store.putBuffer(key, body, opts)
    },
    putStream: (key: string, body: AsyncIterable<Buffer>, opts: PutStreamOptions) => store.putStream(key, limiter.throttle(body, opts.signal), opts),
    extendRetention: (key, versionId, mode, retainUntil) => store.extendRetention(key, versionId, mode, retainUntil),
    getRetention: (key, versionId) => store.getRetention(key, versionId),
  }
  if (store.makeDurable !== undefined) limited.makeDurable = () => store.makeDurable!()
  return limited
}

/** For messages: `uploads limited to 4 MiB/s`. */
export function describeLimit(bytesPerSecond: number): string {
  return `uploads limited to ${formatRate(bytesPerSecond)}`
}
