import { Fifo } from './fifo.js'

/**
 * A weighted semaphore: at most `capacity` units held at once. The upload
 * stage uses three: one counting uploads (weight 1 each, capacity --jobs),
 * one counting bytes held in memory (weight = bytes, capacity the memory
 * budget), so memory stays bounded whatever mix of small and large files
 * comes in, not just the number of files, and one counting the small files
 * being gzip-encoded. The hash stage counts the files it reads at once.
 */
export class Limiter {
  private held = 0
  /** Arrival order; as long as the stage's window when uploads queue (hence a Fifo, not an array's shift). */
  private readonly waiting = new Fifo<{ weight: number, grant: () => void, refuse: (reason: unknown) => void }>()

  /** Once `signal` is aborted, waits are refused with its reason (one listener, however many wait). */
  constructor(readonly capacity: number, private readonly signal?: AbortSignal) {
    if (!(capacity >= 1)) throw new RangeError('capacity must be at least 1')
    signal?.addEventListener('abort', () => {
      for (const w of this.waiting.drain()) w.refuse(signal.reason)
    }, { once: true })
  }

  /**
   * Runs `fn` holding `weight` units. A weight above the capacity is
   * granted when nothing else is held, so one oversized item runs alone
   * rather than never. Waiters are served in arrival order, so a large
   * weight is not starved by a stream of small ones.
   */
  async run<T>(weight: number, fn: () => Promise<T>): Promise<T> {
    await this.acquire(weight)
    try {
      return await fn()
    } finally {
      this.release(weight)
    }
  }

  /** Runs waiting for their units now. */
  get waitingCount(): number {
    return this.waiting.length
  }

  private acquire(weight: number): Promise<void> {
    this.signal?.throwIfAborted()
    if (this.waiting.length === 0 && this.fits(weight)) {
      this.held += weight
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({
        weight,
        grant: () => {
          this.held += weight
          resolve()
        },
        refuse: reject,
      })
    })
  }

  private release(weight: number): void {
    this.held -= weight
    this.grantWaiting()
  }

  private fits(weight: number): boolean {
    return this.held === 0 || this.held + weight <= this.capacity
  }

  private grantWaiting(): void {
    while (this.waiting.length > 0 && this.fits(this.waiting.first()!.weight)) this.waiting.shift()!.grant()
  }
}
