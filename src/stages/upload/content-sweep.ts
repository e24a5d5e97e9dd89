import type { Store } from '../../store/store.js'
import { PrefixSet } from './prefix-set.js'

export const CONTENT_PREFIX = 'content/'
const CONTENT_KEY = /^content\/([0-9a-f]{64})$/
/** Hex digits of a key used to place it in the key space: 52 bits, exact in a double. */
const PLACE_DIGITS = 13

/**
 * A listing of every version under `content/` (ListObjectVersions), taken
 * one page at a time when asked. S3 lists keys in order, and SHA-256 keys
 * are spread evenly over the key space, so after each page the listing
 * answers for every hash up to the last key listed, whether the rest has
 * been listed or not, and the share of the key space covered so far
 * estimates how many pages the rest will take. That lets the caller stop a
 * sweep that turns out larger than it is worth, and resume it later.
 */
export class ContentSweep {
  /** Hashes listed so far. */
  readonly present = PrefixSet.empty()
  pages = 0
  versions = 0
  /** True once the last page has been read. */
  done = false
  /** When the first page was asked for: the listing is complete as of then. */
  startedAt: Date | null = null
  /** The greatest key suffix listed (`content/` removed); '' before the first page. */
  private coveredUpTo = ''
  /** Share of the key space listed, from 0 to 1. */
  private covered = 0
  private iterator: AsyncIterator<{ key: string }[]> | undefined
  /** A page read ahead to learn whether the listing had ended; null when it had. */
  private lookahead: { key: string }[] | null | undefined

  /** `pageSize`: versions per page the store lists (1000 on S3). */
  constructor(private readonly store: Store, private readonly pageSize: number, private readonly clock: () => Date) {}

  /** Whether the listing answers for `sha256`: it is listed, or the listing has passed where it would be. */
  covers(sha256: string): boolean {
    return this.done || (this.coveredUpTo !== '' && sha256 <= this.coveredUpTo)
  }

  /**
   * Pages still to read (an expectation, so possibly a fraction), estimated
   * from the share of the key space listed; before the first page, `guess`
   * (the caller's estimate of the whole), at least one.
   */
  remainingPages(guess: number): number {
    if (this.done) return 0
    if (this.pages === 0 || this.covered <= 0) return Math.max(1, guess)
    // Fractional: near the end of the key space the next call is likely free (the listing has ended).
    return this.pages * (1 - this.covered) / this.covered
  }

  /**
   * Reads the next page (one ListObjectVersions) and returns the hashes
   * it listed; null when the listing is finished. Keys under `content/`
   * that are not a SHA-256 are skipped. A page shorter than a full one is
   * the last (S3 fills every page but the last), so the listing's end is
   * confirmed at once; that costs no request.
   */
  async nextPage(): Promise<string[] | null> {
    if (this.done) return null
    if (this.iterator === undefined) {
      this.startedAt = this.clock()
      this.iterator = this.store.listVersions(CONTENT_PREFIX)[Symbol.asyncIterator]()
    }
    const page = this.lookahead ?? await this.pull()
    this.lookahead = undefined
    if (page === null) return null
    this.pages++
    if (page.length < this.pageSize) this.lookahead = await this.pull()
    const hashes: string[] = []
    for (const version of page) {
      this.versions++
      const m = CONTENT_KEY.exec(version.key)
      if (m) {
        hashes.push(m[1]!)
        this.present.add(m[1]!)
      }
      const suffix = version.key.slice(CONTENT_PREFIX.length)
      if (suffix > this.coveredUpTo) this.coveredUpTo = suffix
    }
    const place = parseInt(this.coveredUpTo.slice(0, PLACE_DIGITS).padEnd(PLACE_DIGITS, '0'), 16)
    if (Number.isFinite(place)) this.covered = Math.max(this.covered, (place + 1) / 16 ** PLACE_DIGITS)
    if (this.lookahead === null) this.done = true
    return hashes
  }

  /** The next page from the store, or null (and `done`) at the end. */
  private async pull(): Promise<{ key: string }[] | null> {
    const next = await this.iterator!.next()
    if (!next.done) return next.value
    this.done = true
    // A store sends one request even for an empty listing: that is a page too.
    if (this.pages === 0) this.pages = 1
    return null
  }

  /** Stops the listing (when the run ends before it is finished). */
  async close(): Promise<void> {
    if (this.iterator !== undefined && !this.done) await this.iterator.return?.()
  }
}
