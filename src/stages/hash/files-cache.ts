import { readFile, stat } from 'node:fs/promises'
import { checkedLines, writeChecksummedFile } from '../../util/checksummed-file.js'
import { LineTable } from '../../util/line-table.js'

/** The cache's file name inside the state directory. */
export const FILES_CACHE_NAME = 'files-cache'

/** First line of a cache file: what it is, and the version of its format. */
export const FILES_CACHE_FORMAT = 'sysbackup-hash files cache 1'

/**
 * A cache file larger than this is refused rather than read (about four
 * million entries; a string of the whole file must fit in one V8 string).
 */
const MAX_CACHE_BYTES = 512 * 1024 * 1024

/** `<dev>:<ino> <size> <mtimeNs> <ctimeNs> <sha256> <0|1>` */
const ENTRY_LINE = /^\d+:\d+ \d+ \d+ \d+ [0-9a-f]{64} [01]$/
/** Length of `<sha256> <0|1>`, the value part at the end of an entry line. */
const VALUE_LENGTH = 66

/** What the cache knows about one content identity. */
export interface CachedContent {
  sha256: string
  gzip: boolean
}

/** Result of loading: the cache (empty when unusable) and why it was unusable. */
export interface LoadedFilesCache {
  cache: FilesCache
  /** A one-line reason the file was ignored; undefined when it loaded or did not exist. */
  problem?: string
  code?: string
}

/**
 * The files cache: file identity (see identityKey) to SHA-256 and gzip
 * decision, so an unchanged file is not read again.
 *
 * On disk it is a text file:
 *
 *     sysbackup-hash files cache 1
 *     <dev>:<ino> <size> <mtimeNs> <ctimeNs> <sha256> <gzip 0|1>
 *     …
 *     end <entries> <sha256 of every byte above this line>
 *
 * (the framing of checksummed-file.ts). The closing line makes a truncated
 * or altered file detectable: such a file, or one in another format, is
 * ignored as a whole, so a damaged cache costs reading time but never
 * yields a wrong hash.
 *
 * Lookups consult the entries loaded from the previous run (kept as the
 * file's bytes in a LineTable: at 100,000 entries a Map of strings took
 * about 25 MB of heap more) or, on a first run, those seeded from a
 * manifest; the entries this run found or read are what save() writes, so
 * files that disappeared drop out of the cache.
 */
export class FilesCache {
  /** Entries this run read (value strings are `<sha256> <0|1>`, as in the file), and seeded entries it found. */
  private readonly current = new Map<string, string>()
  /** Per loaded line: 1 once this run has looked its key up. */
  private readonly hits: Uint8Array
  /** Loaded lines looked up so far (the ones in `hits`). */
  private hitCount = 0

  private constructor(
    private readonly loaded: LineTable | null,
    /** The file `loaded` was read from, and its bytes. */
    private readonly loadedFrom?: { file: string, bytes: Buffer },
    /** Entries known from a manifest (see seed). */
    private readonly seeded = new Map<string, string>(),
  ) {
    this.hits = new Uint8Array(loaded?.lineCount ?? 0)
  }

  static empty(): FilesCache {
    return new FilesCache(null)
  }

  /**
   * Loads the cache file. A missing file (or state directory) is an empty
   * cache without a problem; an unreadable, truncated, corrupted or foreign file is an empty
   * cache with a problem to report. Never throws.
   */
  static async load(file: string): Promise<LoadedFilesCache> {
    let data: Buffer
    try {
      const st = await stat(file)
      if (st.size > MAX_CACHE_BYTES) return unusable(`is larger than ${MAX_CACHE_BYTES} bytes`)
      data = await readFile(file)
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      // No cache yet (first run), or a state dir that is not there: nothing to report here;
      // saving will say whether the directory can be made.
      if (code === 'ENOENT' || code === 'ENOTDIR') return { cache: FilesCache.empty() }
      return unusable(`cannot be read: ${code ?? (err as Error).message}`, code)
    }
    const parsed = parse(data)
    if (typeof parsed === 'string') return unusable(parsed)
    return { cache: new FilesCache(parsed, { file, bytes: data }) }
  }

  /** Entries loaded from the previous run (or seeded). */
  get loadedEntries(): number {
    return (this.loaded?.size ?? 0) + this.seeded.size
  }

  /** Entries this run will save (without `keepPrevious`). */
  get currentEntries(): number {
    let count = this.current.size
    if (this.loaded !== null) {
      for (const i of this.loaded.indexes()) if (this.hits[i] === 1) count++
      for (const key of this.current.keys()) if (this.hitIndex(key) >= 0) count--
    }
    return count
  }

  /**
   * What the previous run knew about `key`. A hit is carried into this
   * run's entries, since the file still exists.
   */
  lookup(key: string): CachedContent | undefined {
    const i = this.loaded?.find(key) ?? -1
    if (i >= 0) {
      if (this.hits[i] === 0) this.hitCount++
      this.hits[i] = 1
      // The line ends in `<sha256> <0|1>`.
      return { sha256: this.loaded!.text(i, -VALUE_LENGTH, -2), gzip: this.loaded!.text(i, -1, 0) === '1' }
    }
    const value = this.seeded.get(key)
    if (value === undefined) return undefined
    this.current.set(key, value)
    return { sha256: value.slice(0, 64), gzip: value.endsWith('1') }
  }

  /**
   * Takes an entry known from elsewhere (a manifest: see seedFromManifest)
   * as if the previous run had saved it: lookup() finds it (after the
   * loaded entries), and a hit carries it into this run's entries.
   */
  seed(key: string, content: CachedContent): void {
    this.seeded.set(key, valueOf(content))
  }

  /** Records what this run read for `key`. */
  remember(key: string, content: CachedContent): void {
    this.current.set(key, valueOf(content))
  }

  /**
   * Writes this run's entries to `file` (plus the previous run's, when
   * `keepPrevious`), atomically: a temporary file in the same directory,
   * fsync'ed, renamed over the old one. Creates the directory (mode 0700:
   * hashes of private files are private too). Returns the entries written;
   * throws the filesystem error when it cannot, leaving no temporary file.
   * A file that would get the bytes it was loaded from (an unchanged run:
   * every file found again, none read) is not written again; when that is
   * plain from the counts alone (nothing read or seeded, every loaded entry
   * found or kept), its lines are not even made and compared (a twentieth
   * of a warm 20,000-file run went into that for both caches).
   */
  async save(file: string, keepPrevious: boolean): Promise<number> {
    const previous = this.loadedFrom?.file === file ? this.loadedFrom.bytes : undefined
    const loaded = this.loaded
    if (previous !== undefined && loaded !== null && loaded.size === loaded.lineCount && this.current.size === 0 && this.seeded.size === 0
      && (keepPrevious || this.hitCount === loaded.size)) return loaded.size
    return writeChecksummedFile(file, `${FILES_CACHE_FORMAT}\n`, this.lines(keepPrevious), previous)
  }

  /**
   * The entry lines to save: the loaded ones this run found (all of them
   * when `keepPrevious`, and the seeded ones too) unless this run read
   * their key again, then the ones this run read.
   */
  private *lines(keepPrevious: boolean): Generator<string> {
    if (this.loaded !== null) {
      const table = this.loaded
      for (const i of table.indexes()) {
        if (!keepPrevious && this.hits[i] !== 1) continue
        if (this.current.size > 0 && this.current.has(table.key(i))) continue
        yield `${table.line(i)}\n`
      }
    }
    if (keepPrevious) {
      for (const [key, value] of this.seeded) if (!this.current.has(key)) yield `${key} ${value}\n`
    }
    for (const [key, value] of this.current) yield `${key} ${value}\n`
  }

  /** The loaded line of `key` when this run looked it up, else -1. */
  private hitIndex(key: string): number {
    const i = this.loaded?.find(key) ?? -1
    return i >= 0 && this.hits[i] === 1 ? i : -1
  }
}

/** A cache line's value, flat as identityKey's key is. */
function valueOf(content: CachedContent): string {
  return [content.sha256, content.gzip ? '1' : '0'].join(' ')
}

function unusable(reason: string, code?: string): LoadedFilesCache {
  const loaded: LoadedFilesCache = { cache: FilesCache.empty(), problem: `files cache ${reason}; it is ignored and every file is read` }
  if (code !== undefined) loaded.code = code
  return loaded
}

/** The entries of a cache file, or why it is unusable. */
function parse(data: Buffer): LineTable | string {
  // latin1 decodes each byte to one character: a valid file is ASCII, and
  // anything else still maps 1:1, so offsets below are byte offsets.
  const text = data.toString('latin1')
  if (!text.startsWith(FILES_CACHE_FORMAT + '\n')) {
    return text.startsWith('sysbackup-hash files cache ') ? 'is in a format this version does not read' : 'is not a files cache'
  }
  const checked = checkedLines(data, text, 1)
  if (typeof checked === 'string') return checked
  const starts: number[] = []
  const ends: number[] = []
  let at = checked.entriesAt
  for (const line of checked.entries) {
    if (!ENTRY_LINE.test(line)) return 'is corrupted (malformed entry)'
    starts.push(at)
    ends.push(at + line.length)
    at += line.length + 1
  }
  // The key is the line up to the space before its value.
  return new LineTable(data, starts, ends, (length) => [0, length - VALUE_LENGTH - 1])
}
