/**
 * A weighted semaphore: at most `capacity` units held at once. Used twice by
 * the upload stage: once counting uploads (weight 1 each, capacity --jobs),
 * once counting bytes held in memory (weight = bytes, capacity the memory
 * budget), so memory stays bounded whatever mix of small and large files
 * comes in, not just the number of files.
 */
export class Limiter {
  private held = 0
  private readonly waiting: { weight: number, grant: () => void }[] = []

  constructor(readonly capacity: number) {
    if (!(capacity >= 1)) throw new RangeError('capacity must be at least 1')
  }

  /**
   * Runs `fn` holding `weight` units. A weight above the capacity is
   * granted when nothing else is held, so one oversized item runs alone
   * rather than never. Waiters are served in arrival order, so a large
   * weight is not starved by a stream of small ones.
   */
  async run<T>(weight: number, fn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    await this.acquire(weight, signal)
    try {
      return await fn()
    } finally {
      this.release(weight)
    }
  }

  private acquire(weight: number, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted()
    if (this.waiting.length === 0 && this.fits(weight)) {
      this.held += weight
      return Promise.resolve()
    }
    return new Promise((resolve, reject) => {
      const entry = {
        weight,
        grant: () => {
          signal?.removeEventListener('abort', onAbort)
          this.held += weight
          resolve()
        },
      }
      const onAbort = () => {
        const at = this.waiting.indexOf(entry)
        if (at >= 0) this.waiting.splice(at, 1)
        reject(signal!.reason)
        this.grantWaiting()
      }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.waiting.push(entry)
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
    while (this.waiting.length > 0 && this.fits(this.waiting[0]!.weight)) this.waiting.shift()!.grant()
  }
}
