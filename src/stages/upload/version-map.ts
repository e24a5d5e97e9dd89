import { LineTable } from '../../util/line-table.js'
import { SharedDates } from '../../util/shared-dates.js'
import type { KnownVersion } from './content-cache.js'

/** Flags of a loaded line. */
const REPLACED = 1
const USED = 2

/** A version as the content cache writes it, with its hash. */
export interface VersionLine {
  sha256: string
  /** `v <sha256> <retainUntil ms> <versionId>`, without its newline. */
  line: string
  /** A line read from the cache file, which checked it as it loaded (not checked again when saved). */
  loaded?: true
}

/**
 * The cache lines of the versions that have a retention: a VersionMap (or
 * a view of one) gives the lines it loaded as they were read, without
 * reading them into KnownVersions and formatting them again.
 */
export function versionLinesOf(versions: ReadonlyMap<string, KnownVersion>): Iterable<VersionLine> {
  return versions instanceof VersionsReader ? versions.versionLines() : formattedLines(versions)
}

/**
 * The number of version lines when `versions` (a VersionMap, or a view of
 * one) would be saved as exactly the version lines of the cache file it was
 * loaded from, in their order; undefined when that is not sure.
 */
export function unchangedLines(versions: ReadonlyMap<string, KnownVersion>): number | undefined {
  return versions instanceof VersionsReader ? versions.unchangedLines() : undefined
}

function* formattedLines(versions: ReadonlyMap<string, KnownVersion>): Generator<VersionLine> {
  for (const [sha256, known] of versions) {
    if (known.retainUntil !== null) yield { sha256, line: `v ${sha256} ${known.retainUntil.getTime()} ${known.versionId}` }
  }
}

/** What a ReadonlyMap of versions derives from its entries() and get(). */
abstract class VersionsReader implements ReadonlyMap<string, KnownVersion> {
  abstract readonly size: number
  abstract get(sha256: string): KnownVersion | undefined
  abstract entries(): MapIterator<[string, KnownVersion]>
  /** See versionLinesOf. */
  abstract versionLines(): Iterable<VersionLine>
  /** See unchangedLines. */
  abstract unchangedLines(): number | undefined

  has(sha256: string): boolean {
    return this.get(sha256) !== undefined
  }

  * keys(): MapIterator<string> {
    for (const [sha] of this.entries()) yield sha
  }

  * values(): MapIterator<KnownVersion> {
    for (const [, known] of this.entries()) yield known
  }

  [Symbol.iterator](): MapIterator<[string, KnownVersion]> {
    return this.entries()
  }

  forEach(callback: (value: KnownVersion, key: string, map: ReadonlyMap<string, KnownVersion>) => void): void {
    for (const [sha, known] of this.entries()) callback(known, sha, this)
  }
}

/**
 * The known versions of content, by SHA-256, and which hashes this run has
 * used: the versions the content cache file held (its `v` lines, kept as
 * the file's bytes in a LineTable, read into a KnownVersion when asked
 * for) under what this run learned (a Map). At 100,000 versions a Map of
 * them all took about 30 MB of heap more, a Set of the hashes used another
 * 10, and both live through the whole run.
 *
 * A loaded line is `v <sha256> <retainUntil ms> <versionId>`.
 */
export class VersionMap extends VersionsReader {
  private readonly learned = new Map<string, KnownVersion>()
  /** Per loaded line: REPLACED (by a learned version, or deleted) and USED. */
  private readonly flags: Uint8Array
  /** Hashes used that have no loaded line. */
  private readonly usedElsewhere = new Set<string>()
  private loadedLive: number
  /** Loaded lines marked USED. */
  private usedLoaded = 0

  /**
   * `dropped`: version lines of the file left out of `loaded` (expired),
   * which a save would then not write again.
   */
  constructor(private readonly loaded: LineTable | null = null, private readonly dates = new SharedDates(), private readonly dropped = 0) {
    super()
    this.flags = new Uint8Array(loaded?.lineCount ?? 0)
    this.loadedLive = loaded?.size ?? 0
  }

  /** A map of these versions, none loaded. */
  static of(entries: Iterable<readonly [string, KnownVersion]>): VersionMap {
    const map = new VersionMap()
    for (const [sha, known] of entries) map.set(sha, known)
    return map
  }

  get size(): number {
    return this.loadedLive + this.learned.size
  }

  get(sha256: string): KnownVersion | undefined {
    const learned = this.learned.get(sha256)
    if (learned !== undefined) return learned
    const i = this.liveLine(sha256)
    return i < 0 ? undefined : this.read(i)
  }

  override has(sha256: string): boolean {
    return this.learned.has(sha256) || this.liveLine(sha256) >= 0
  }

  set(sha256: string, known: KnownVersion): this {
    this.replace(sha256)
    this.learned.set(sha256, known)
    return this
  }

  delete(sha256: string): boolean {
    const had = this.replace(sha256)
    return this.learned.delete(sha256) || had
  }

  override * keys(): MapIterator<string> {
    if (this.loaded !== null) {
      for (const i of this.loaded.indexes()) if ((this.flags[i]! & REPLACED) === 0) yield this.loaded.key(i)
    }
    yield* this.learned.keys()
  }

  /** Notes that this run used `sha256` (looked it up or learned it). */
  markUsed(sha256: string): void {
    this.markUsedAt(sha256, this.loaded?.find(sha256) ?? -1)
  }

  /** get(), noting that this run used `sha256`: one probe of the loaded lines for both. */
  use(sha256: string): KnownVersion | undefined {
    const i = this.loaded?.find(sha256) ?? -1
    this.markUsedAt(sha256, i)
    const learned = this.learned.get(sha256)
    if (learned !== undefined) return learned
    return i >= 0 && (this.flags[i]! & REPLACED) === 0 ? this.read(i) : undefined
  }

  isUsed(sha256: string): boolean {
    const i = this.loaded?.find(sha256) ?? -1
    return i >= 0 ? (this.flags[i]! & USED) !== 0 : this.usedElsewhere.has(sha256)
  }

  * entries(): MapIterator<[string, KnownVersion]> {
    if (this.loaded !== null) {
      for (const i of this.loaded.indexes()) if ((this.flags[i]! & REPLACED) === 0) yield [this.loaded.key(i), this.read(i)]
    }
    yield* this.learned
  }

  /**
   * The cache lines of the versions with a retention (only those this run
   * used, when `onlyUsed`): loaded lines as they are, learned ones formatted.
   */
  override * versionLines(onlyUsed = false): Generator<VersionLine> {
    if (this.loaded !== null) {
      const wanted = onlyUsed ? USED : 0
      for (const i of this.loaded.indexes()) {
        const flags = this.flags[i]!
        if ((flags & REPLACED) === 0 && (flags & wanted) === wanted) yield { sha256: this.loaded.key(i), line: this.loaded.line(i), loaded: true }
      }
    }
    for (const line of formattedLines(this.learned)) if (!onlyUsed || this.isUsed(line.sha256)) yield line
  }

  /**
   * The number of lines when versionLines(onlyUsed) gives exactly the
   * version lines of the file loaded: none dropped, superseded, replaced or
   * learned, and (when `onlyUsed`) every one used; else undefined.
   */
  unchangedLines(onlyUsed = false): number | undefined {
    const loaded = this.loaded
    if (loaded === null || this.dropped > 0 || this.learned.size > 0 || loaded.size !== loaded.lineCount || this.loadedLive !== loaded.size) return undefined
    return !onlyUsed || this.usedLoaded === loaded.size ? loaded.size : undefined
  }

  /** Marks `sha256` used; `i` is its loaded line, or -1. */
  private markUsedAt(sha256: string, i: number): void {
    if (i >= 0) {
      if ((this.flags[i]! & USED) === 0) this.usedLoaded++
      this.flags[i]! |= USED
    } else {
      this.usedElsewhere.add(sha256)
    }
  }

  /** The loaded line of `sha256` unless a learned version replaced it, else -1. */
  private liveLine(sha256: string): number {
    const i = this.loaded?.find(sha256) ?? -1
    return i >= 0 && (this.flags[i]! & REPLACED) === 0 ? i : -1
  }

  /** Marks the loaded line of `sha256` replaced; true when it was live. */
  private replace(sha256: string): boolean {
    const i = this.liveLine(sha256)
    if (i < 0) return false
    this.flags[i]! |= REPLACED
    this.loadedLive--
    return true
  }

  private read(i: number): KnownVersion {
    // After `v <sha256> `: `<retainUntil ms> <versionId>`.
    const rest = this.loaded!.text(i, 67, 0)
    const space = rest.indexOf(' ')
    return { versionId: rest.slice(space + 1), retainUntil: this.dates.of(Number(rest.slice(0, space))) }
  }
}

/**
 * The versions of a VersionMap that its run used, as a view: what the
 * state cache saves after a complete run is read from it once, and a copy
 * of 100,000 versions took 25 MB at the end of the run, when memory is at
 * its highest.
 */
export class UsedVersions extends VersionsReader {
  constructor(private readonly source: VersionMap) {
    super()
  }

  get size(): number {
    let count = 0
    for (const _ of this.entries()) count++
    return count
  }

  get(sha256: string): KnownVersion | undefined {
    return this.source.isUsed(sha256) ? this.source.get(sha256) : undefined
  }

  * entries(): MapIterator<[string, KnownVersion]> {
    for (const entry of this.source) if (this.source.isUsed(entry[0])) yield entry
  }

  override versionLines(): Iterable<VersionLine> {
    return this.source.versionLines(true)
  }

  unchangedLines(): number | undefined {
    return this.source.unchangedLines(true)
  }
}
