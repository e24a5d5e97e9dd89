import { isRefusal, StoreFatalError } from '../../store/errors.js'
import { S3_PRICES } from '../../store/pricing.js'
import type { Store } from '../../store/store.js'
import { emptyIndexState, type ContentCacheData, type IndexState, type KnownVersion } from './content-cache.js'
import { ContentSweep } from './content-sweep.js'
import { Limiter } from '../../util/limiter.js'
import { PrefixSet, prefixOf } from './prefix-set.js'
import { UsedVersions, VersionMap } from './version-map.js'

/**
 * How long a complete index of a store that only this host writes to is
 * trusted to say what is absent. Within it, content the index does not hold
 * is uploaded without asking the store first. A second host that starts
 * storing into the same bucket is noticed at the latest when this expires
 * (the next check then finds its content); until then, content it stored
 * first may be stored again by this host: a duplicate version, which costs
 * storage but never correctness. One week: a daily backup checks once a
 * week, the cost of one listing (or a few HEADs) per week.
 */
export const ABSENCE_TRUST_MS = 7 * 86_400_000

/**
 * What one answer costs, in dollars per 1000 requests: a HEAD answers for
 * one hash; a page of ListObjectVersions answers for up to 1000 versions
 * but is billed as a PUT, 12.5 times a HEAD.
 */
const HEAD_COST = S3_PRICES.getClassPer1000
const PAGE_COST = S3_PRICES.putClassPer1000

export interface KnowledgeOptions {
  store: Store
  /** Trust horizon: versions retained beyond it exist. Also the clock of the absence trust. */
  clock: () => Date
  /** HEAD requests at once. */
  jobs: number
  /** Versions per listing page the store uses (1000 on S3). */
  pageSize: number
  /** Aborts waits for a HEAD slot. */
  signal: AbortSignal
  /** One line on stderr (the sweep failed and HEADs replace it). */
  log: (message: string) => void
}

/** Hashes answered by each source, for the trailer. */
export interface KnowledgeCounts {
  /** HeadObject requests sent to learn about content. */
  heads: number
  /** ListObjectVersions pages of content/ read. */
  swept: number
}

/** headOnce's answer when the store refused the HEAD. */
const REFUSED = Symbol('refused')

interface Waiting {
  sha256: string
  resolve: (known: KnownVersion | null) => void
  reject: (err: unknown) => void
}

/**
 * What this run knows about `content/<sha256>` objects, and the decision of
 * how to learn what it does not, at the lowest request cost. In order:
 *
 * 1. A known version (from the state cache, the newest manifest, or this
 *    run) retained beyond now: it exists, and its retention is a lower
 *    bound. No request.
 * 2. A listing (sweep) of `content/` that has passed the hash: listed means
 *    it exists (one HEAD learns its version and retention, which a listing
 *    does not give); not listed means absent.
 * 3. In the index (content known to exist or to have existed): one HEAD.
 * 4. The index is complete, the store has no other writer, and the index is
 *    younger than ABSENCE_TRUST_MS: absent, no request.
 * 5. Otherwise the hash waits in a queue, and the queue is answered by
 *    whichever costs less: one HEAD per hash, or the pages of a sweep. A
 *    sweep is read (a page at a time) while the queue's HEADs would cost
 *    more than the sweep's remaining pages; the pages are estimated from
 *    the version count the state remembers (else one), then from the share
 *    of the key space each page covers. Hashes left when the input stalls
 *    or ends are HEADed.
 *
 * A sweep saves HEADs only for hashes that turn out absent, so it may cost
 * up to its own price more than HEADs alone when most of the queue exists;
 * that bound is the price of not knowing beforehand.
 *
 * Once a HEAD is refused (a role that may list only `content/` gets 403 for
 * a missing key), absence is learned from the sweep alone, whatever it
 * costs; HEADs are still used for content the sweep lists.
 */
export class ContentKnowledge {
  readonly counts: KnowledgeCounts = { heads: 0, swept: 0 }
  /** Known versions, and the hashes this run looked up or learned (the version entries worth saving). */
  private readonly versions: VersionMap
  /** Loaded index plus everything this run learned exists. */
  private readonly index: PrefixSet
  private readonly state: IndexState
  private readonly lookups = new Map<string, Promise<KnownVersion | null>>()
  private readonly heads: Limiter
  private sweep: ContentSweep | undefined
  private sweepBroken = false
  /** Content found that this host did not know of: evidence of another writer. */
  private foreignSeen = false
  private queue: Waiting[] = []
  private work: Promise<void> = Promise.resolve()
  private decisionScheduled = false
  /** A HEAD of content was refused: see head(). */
  private headsRefused = false
  private stalled = false
  private failure: { reason: unknown } | undefined

  constructor(start: ContentCacheData | null, private readonly opts: KnowledgeOptions) {
    this.index = start?.index ?? PrefixSet.empty()
    if (start?.versions instanceof VersionMap) {
      // Loaded from the cache, whose index holds every version line's hash already.
      this.versions = start.versions
    } else {
      this.versions = VersionMap.of(start?.versions ?? [])
      for (const sha of this.versions.keys()) this.index.add(sha)
    }
    this.state = start ? { ...start.state } : emptyIndexState()
    this.heads = new Limiter(opts.jobs, opts.signal)
  }

  /** True when no version is known: the cache was missing, unusable, ignored, or held nothing still retained. */
  get knowsNothing(): boolean {
    return this.versions.size === 0
  }

  /** Adds versions learned elsewhere (the newest manifest), keeping the later retention of each. */
  seed(versions: Map<string, KnownVersion>): void {
    for (const [sha, known] of versions) this.remember(sha, known)
  }

  /** The version of `sha256` known without asking the store, if any. */
  peek(sha256: string): KnownVersion | undefined {
    return this.versions.get(sha256)
  }

  /**
   * The version of `sha256` known without asking the store, if any, noted
   * as used by this run (as lookup notes it): what lookup would answer at
   * once.
   */
  useKnown(sha256: string): KnownVersion | undefined {
    return this.versions.use(sha256)
  }

  /**
   * A version of `content/<sha256>` and its retention (null retention: the
   * version has none), or null when the store has no such content. May
   * wait for a sweep decision; see the class comment.
   */
  lookup(sha256: string): Promise<KnownVersion | null> {
    const known = this.useKnown(sha256)
    if (known !== undefined) return Promise.resolve(known)
    let answer = this.lookups.get(sha256)
    if (answer === undefined) {
      answer = this.resolve(sha256)
      this.lookups.set(sha256, answer)
      // A failed lookup (a store error) may be asked again by another record.
      answer.catch(() => this.lookups.delete(sha256))
    }
    return answer
  }

  /** Records a version this run stored, extended, or otherwise learned. */
  learn(sha256: string, known: KnownVersion, stored = false): void {
    this.versions.markUsed(sha256)
    this.lookups.delete(sha256)
    this.remember(sha256, known)
    if (stored) this.state.versions++
  }

  /** Forgets a version that turned out not to exist. */
  forget(sha256: string): void {
    this.versions.delete(sha256)
    this.lookups.delete(sha256)
  }

  /**
   * Whether the input is stalled: ended, or the output window is full of
   * records waiting for answers. While it is, queued hashes are answered at
   * once (by sweep or HEAD, whichever costs less) instead of waiting for
   * more hashes to share a sweep with.
   */
  setInputStalled(stalled: boolean): void {
    this.stalled = stalled
    if (stalled) this.scheduleDecision()
  }

  /** Rejects every waiting lookup, and every later one, with `reason` (the run is stopping). */
  fail(reason: unknown): void {
    this.failure ??= { reason }
    for (const w of this.queue.splice(0)) w.reject(reason)
  }

  /** Waits for sweep work in progress to settle. */
  async settle(): Promise<void> {
    await this.work
  }

  /**
   * What to save in the state cache: the versions this run used (all known
   * ones when `keepAll`, for a run cut short), and the index. A sweep that
   * finished makes the index complete as of its start; one left unfinished
   * adds what it listed.
   */
  toCacheData(keepAll: boolean): ContentCacheData {
    if (this.sweep) {
      // Not awaited: a listing request in flight (a run cut short) may take long to end.
      this.sweep.close().catch(() => {})
      this.index.addAll(this.sweep.present)
    }
    // Versions without a retention are not saved (see saveContentCache).
    const versions = keepAll ? this.versions : new UsedVersions(this.versions)
    return { versions, index: this.index, state: { ...this.state } }
  }

  private remember(sha256: string, known: KnownVersion): void {
    const had = this.versions.get(sha256)
    const later = had === undefined || had.versionId !== known.versionId || (had.retainUntil?.getTime() ?? 0) <= (known.retainUntil?.getTime() ?? 0)
    if (later) this.versions.set(sha256, known)
    this.index.add(sha256)
  }

  private resolve(sha256: string): Promise<KnownVersion | null> {
    if (this.failure) return Promise.reject(this.failure.reason)
    if (this.sweep?.covers(sha256)) return this.sweep.present.has(sha256) ? this.head(sha256) : Promise.resolve(null)
    if (this.index.has(sha256)) return this.head(sha256)
    if (this.absenceTrusted()) return Promise.resolve(null)
    return new Promise((resolve, reject) => {
      this.queue.push({ sha256, resolve, reject })
      this.scheduleDecision()
    })
  }

  private absenceTrusted(): boolean {
    const s = this.state
    return s.complete && !s.shared && s.sweptAt !== null && this.opts.clock().getTime() - s.sweptAt.getTime() < ABSENCE_TRUST_MS
  }

  /**
   * One HEAD of the newest version of `content/<sha256>`. A principal
   * without s3:ListBucket on the whole bucket (the backup role of the
   * package's template may list only `content/`) gets 403, not 404, for a
   * key that does not exist; so a refused HEAD of content no listing has
   * seen sends the hash to the listing instead, which that role may read.
   * Refused for content the listing did see, it is a real refusal.
   */
  private async head(sha256: string): Promise<KnownVersion | null> {
    const answer = await this.heads.run(1, () => this.headOnce(sha256))
    if (answer !== REFUSED) return answer
    if (!this.headsRefused) {
      this.headsRefused = true
      this.opts.log('a HEAD of content was refused, as S3 refuses one of a missing key to a role that may not list the whole bucket; the listing of content/ answers instead')
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ sha256, resolve, reject })
      this.scheduleDecision()
    })
  }

  private async headOnce(sha256: string): Promise<KnownVersion | null | typeof REFUSED> {
    this.counts.heads++
    let info
    try {
      info = await this.opts.store.head(`content/${sha256}`)
    } catch (err) {
      if (!isRefusal(err) || this.sweep?.present.has(sha256) || this.sweepBroken) throw err
      return REFUSED
    }
    if (info === null) return null
    // The complete index did not have it and no sweep listed it: someone else stored it.
    if (this.state.complete && !this.index.has(sha256) && !this.sweep?.present.has(sha256)) {
      this.foreignSeen = true
      this.state.shared = true
    }
    const known = { versionId: info.versionId, retainUntil: info.retainUntil ?? null }
    this.learn(sha256, known)
    return known
  }

  /** Runs one decision after the ones already running; several requests while one waits make one. */
  private scheduleDecision(): void {
    if (this.decisionScheduled) return
    this.decisionScheduled = true
    this.work = this.work.then(async () => {
      this.decisionScheduled = false
      try {
        await this.decide()
      } catch (err) {
        this.fail(err)
      }
    })
  }

  /** The page estimate before a sweep has begun: the version count remembered, else one page. */
  private guessPages(): number {
    return Math.max(1, Math.ceil(this.state.versions / this.opts.pageSize))
  }

  private async decide(): Promise<void> {
    while (this.queue.length > 0 && !this.sweepBroken && this.failure === undefined) {
      const pages = this.sweep?.remainingPages(this.guessPages()) ?? this.guessPages()
      // When HEADs cannot tell absence, only the listing can, whatever it costs.
      if (!this.headsRefused && this.queue.length * HEAD_COST <= pages * PAGE_COST) break
      await this.sweepPage()
    }
    if (this.stalled && this.queue.length > 0 && this.failure === undefined) {
      for (const w of this.queue.splice(0)) this.head(w.sha256).then(w.resolve, w.reject)
    }
  }

  /** Reads one page of the sweep and answers the queued hashes it covers. */
  private async sweepPage(): Promise<void> {
    this.sweep ??= new ContentSweep(this.opts.store, this.opts.pageSize, this.opts.clock)
    const sweep = this.sweep
    let hashes: string[] | null
    try {
      hashes = await sweep.nextPage()
    } catch (err) {
      if (err instanceof StoreFatalError) throw err
      this.sweepBroken = true
      this.opts.log(`listing content/ failed, asking for each content instead: ${(err as Error).message}`)
      return
    }
    this.counts.swept = sweep.pages
    for (const sha of hashes ?? []) {
      if (!this.index.hasPrefix(prefixOf(sha))) this.foreignSeen = true
    }
    const waiting = this.queue
    this.queue = []
    for (const w of waiting) {
      if (!sweep.covers(w.sha256)) this.queue.push(w)
      else if (sweep.present.has(w.sha256)) this.head(w.sha256).then(w.resolve, w.reject)
      else w.resolve(null)
    }
    if (sweep.done) {
      this.index.addAll(sweep.present)
      this.state.complete = true
      this.state.sweptAt = sweep.startedAt
      this.state.shared = this.foreignSeen
      this.state.versions = sweep.versions
    }
  }
}
