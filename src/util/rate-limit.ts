import { setTimeout as sleep } from 'node:timers/promises'

/**
 * A rate as people write it: bytes per second, with an optional binary
 * suffix K, M or G (KiB, MiB, GiB; `KiB`, `MiB`, `GiB` and a trailing `/s`
 * are accepted too), e.g. `512K`, `2.5M`, `1G/s`. `0` means no limit.
 * Returns the rate in bytes per second (0: none), or null when `text` is
 * not a rate.
 */
export function parseRate(text: string): number | null {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(?:([KMG])(?:iB)?)?(?:\/s)?\s*$/i.exec(text)
  if (m === null) return null
  const unit = m[2] === undefined ? 1 : 1024 ** ('KMG'.indexOf(m[2].toUpperCase()) + 1)
  const rate = Math.floor(Number(m[1]) * unit)
  return Number.isSafeInteger(rate) ? rate : null
}

/** A rate for messages: `2 MiB/s`, `512 KiB/s`, `100 B/s`. */
export function formatRate(bytesPerSecond: number): string {
  for (const [unit, size] of [['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytesPerSecond >= size) return `${Number((bytesPerSecond / size).toFixed(2))} ${unit}/s`
  }
  return `${bytesPerSecond} B/s`
}

/** What a RateLimiter waits with; tests give a clock of their own. */
export interface RateClock {
  /** Milliseconds, monotonic. */
  now(): number
  sleep(ms: number, signal?: AbortSignal): Promise<void>
}

const REAL_CLOCK: RateClock = {
  now: () => performance.now(),
  sleep: (ms, signal) => sleep(ms, undefined, signal === undefined ? undefined : { signal }),
}

/**
 * Holds bytes to an average of `bytesPerSecond`, for everyone who takes
 * from it: take(n) resolves when `n` more bytes may go. Each take is
 * booked, in order of asking, right after the bytes booked before it, so
 * many concurrent uploads share the rate instead of each having it. Bytes
 * may go up to `burstSeconds` before their booked time (a small file need
 * not wait its own transfer time), and time nobody used is not saved up,
 * so over any span the bytes let through are at most rate × (span + burst).
 */
export class RateLimiter {
  /** When the bytes booked so far will have been paid for at the rate, in the clock's milliseconds. */
  private paidUntil: number
  /**
   * Milliseconds during which at least one take() was waiting: time the
   * limit held bytes back, however many were waiting at once.
   */
  heldMs = 0
  /** The end of the waits counted in heldMs so far. */
  private heldUntil = -Infinity

  constructor(readonly bytesPerSecond: number, readonly burstSeconds = DEFAULT_BURST_SECONDS, private readonly clock: RateClock = REAL_CLOCK) {
    if (!(bytesPerSecond > 0)) throw new RangeError(`a rate must be positive, not ${bytesPerSecond}`)
    this.paidUntil = clock.now()
  }

  /** Waits until `bytes` more may go (at once when within the burst). Rejects when `signal` aborts; the bytes stay booked. */
  async take(bytes: number, signal?: AbortSignal): Promise<void> {
    const now = this.clock.now()
    // Time left unused is not credited: the burst is the only lead allowed.
    this.paidUntil = Math.max(this.paidUntil, now) + (bytes / this.bytesPerSecond) * 1000
    const wait = this.paidUntil - this.burstSeconds * 1000 - now
    if (wait <= 0) return
    const until = now + wait
    this.heldMs += until - Math.max(now, this.heldUntil)
    this.heldUntil = until
    await this.clock.sleep(wait, signal)
  }

  /**
   * `chunks` as they come, each let through once the limiter allows it;
   * chunks larger than CHUNK_BYTES are cut, so a big one does not go as a
   * burst after one long wait.
   */
  async* throttle(chunks: AsyncIterable<Buffer>, signal?: AbortSignal): AsyncGenerator<Buffer> {
    for await (const chunk of chunks) {
      for (let at = 0; at < chunk.length; at += CHUNK_BYTES) {
        const piece = at === 0 && chunk.length <= CHUNK_BYTES ? chunk : chunk.subarray(at, at + CHUNK_BYTES)
        await this.take(piece.length, signal)
        yield piece
      }
    }
  }
}

/** Seconds of the rate that may go at once after a quiet spell. */
const DEFAULT_BURST_SECONDS = 0.25

/** The largest piece throttle() lets through at once. */
const CHUNK_BYTES = 256 * 1024
