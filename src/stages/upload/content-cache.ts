import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { checkedLines, writeChecksummedFile } from '../../util/checksummed-file.js'
import { LineTable } from '../../util/line-table.js'
import { unchangedLines, VersionMap, versionLinesOf } from './version-map.js'
import { PrefixSet, prefixHex, prefixOf } from './prefix-set.js'
import { sha256Of } from '../../util/sha256.js'

/** First line of a cache file: what it is, and the version of its format. */
export const CONTENT_CACHE_FORMAT = 'sysbackup-upload content versions 1'

/** A cache file larger than this is refused rather than read (a string of the whole file must fit in one V8 string). */
const MAX_CACHE_BYTES = 512 * 1024 * 1024

const VERSION_LINE = /^v ([0-9a-f]{64}) (\d{1,15}) ([\x21-\x7e]{1,1024})$/
const PREFIX_LINE = /^p ([0-9a-f]{16})$/
const INDEX_LINE = /^index ([01]) (\d{1,15}|-) ([01]) (\d{1,15})$/

/**
 * What is known about one stored version of `content/<sha256>`. The
 * retention is a lower bound: it only ever grows. Null when the version
 * carries no retention.
 */
export interface KnownVersion {
  versionId: string
  retainUntil: Date | null
}

/**
 * What the cache says about the store's content keys as a whole, beyond
 * single versions. See ContentKnowledge for how it is used.
 */
export interface IndexState {
  /**
   * The index held every content key in the store as of `sweptAt` (a full
   * listing then), plus every version this host stored since.
   */
  complete: boolean
  /** When the last full listing (sweep) of `content/` began. */
  sweptAt: Date | null
  /**
   * The last evidence says other writers store content into this store
   * too: the last sweep found keys this host had not known, or a HEAD found
   * content the complete index did not have.
   */
  shared: boolean
  /** Content versions in the store as last counted: the last sweep's count plus this host's uploads since. */
  versions: number
}

/** The knowledge a run starts from and saves. */
export interface ContentCacheData {
  /** Versions known with their retention; on load only those still retained now (a VersionMap, each of whose hashes is in `index`). */
  versions: ReadonlyMap<string, KnownVersion>
  /** Content known to exist (or to have existed), as 64-bit prefixes. */
  index: PrefixSet
  state: IndexState
}

export interface LoadedContentCache {
  /** Null when there was no cache or it was unusable. */
  data: ContentCacheData | null
  /** The file's bytes, when `data` was read from them (see saveContentCache). */
  bytes?: Buffer
  /** Version entries in the file, retained or not. */
  entries: number
  /** A one-line reason the file was ignored; undefined when it loaded or did not exist. */
  problem?: string
  code?: string
}

/**
 * The cache's file in `stateDir`: one per store, named from a hash of the
 * store's cacheId (Store.cacheId), so two stores (say a bucket and a local
 * directory, two buckets, or two backup disks mounted in turn at one path)
 * never share one, and each keeps its own. The id is also written inside
 * and checked.
 */
export function contentCacheFile(stateDir: string, storeId: string): string {
  return join(stateDir, `content-versions-${sha256Of(storeId).slice(0, 16)}`)
}

export function emptyIndexState(): IndexState {
  return { complete: false, sweptAt: null, shared: false, versions: 0 }
}

/**
 * Loads the content-versions cache of store `storeId`. A missing file (or
 * state directory) gives no data and no problem; an unreadable, truncated,
 * corrupted, foreign (another store's) or other-format file gives no data
 * and a problem to report. Version entries whose retention is not after
 * `now` are not trusted (an unlocked version may have been deleted) and
 * are kept only in the index. Never throws.
 *
 * On disk it is a text file:
 *
 *     sysbackup-upload content versions 1
 *     store "<store cacheId, as a JSON string>"
 *     index <complete 0|1> <sweptAt ms|-> <shared 0|1> <versions>
 *     v <sha256> <retainUntil ms> <versionId>      (one per known version)
 *     p <first 16 hex digits of a sha256>          (one per other indexed hash)
 *     end <lines after the index line> <sha256 of every byte above this line>
 */
export async function loadContentCache(file: string, storeId: string, now: Date): Promise<LoadedContentCache> {
  let data: Buffer
  try {
    const st = await stat(file)
    if (st.size > MAX_CACHE_BYTES) return unusable(`is larger than ${MAX_CACHE_BYTES} bytes`)
    data = await readFile(file)
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'ENOENT' || code === 'ENOTDIR') return { data: null, entries: 0 }
    return unusable(`cannot be read: ${code ?? (err as Error).message}`, code)
  }
  const parsed = parse(data, storeId, now)
  if (typeof parsed === 'string') return unusable(parsed)
  parsed.bytes = data
  return parsed
}

/**
 * Writes `data` to `file` atomically (see writeChecksummedFile); the directory
 * is made with mode 0700 and the file 0600. `previous` is the file's bytes
 * as loaded (LoadedContentCache.bytes): the same bytes are not written
 * again. Returns the version entries written. Throws the filesystem error
 * when it cannot.
 */
export async function saveContentCache(file: string, storeId: string, data: ContentCacheData, previous?: Buffer): Promise<number> {
  const s = data.state
  const head = `${CONTENT_CACHE_FORMAT}\nstore ${asciiJson(storeId)}\n`
    + `index ${s.complete ? 1 : 0} ${s.sweptAt === null ? '-' : s.sweptAt.getTime()} ${s.shared ? 1 : 0} ${s.versions}\n`
  // An unchanged run's cache, plain from the counts alone: its lines are not even made and compared (see FilesCache.save).
  const unchanged = previous === undefined || data.index.hasGrown ? undefined : unchangedLines(data.versions)
  if (unchanged !== undefined && previous!.toString('latin1', 0, head.length) === head) return unchanged
  let entries = 0
  function* lines(): Generator<string> {
    // Version entries put their prefix in the index when loaded: write only the others.
    const withVersion = new Set<bigint>()
    for (const { sha256, line, loaded } of versionLinesOf(data.versions)) {
      // A version id learned from the store must be what the file can hold: printable ASCII, one byte per character (it is written as latin1).
      if (loaded !== true && !VERSION_LINE.test(line)) continue
      entries++
      withVersion.add(prefixOf(sha256))
      yield line + '\n'
    }
    for (const prefix of data.index.prefixes()) {
      if (!withVersion.has(prefix)) yield `p ${prefixHex(prefix)}\n`
    }
  }
  await writeChecksummedFile(file, head, lines(), previous)
  return entries
}

/** A JSON string in ASCII only (\\u escapes), so the file stays one byte per character. */
function asciiJson(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
}

function unusable(reason: string, code?: string): LoadedContentCache {
  const loaded: LoadedContentCache = { data: null, entries: 0, problem: `content versions cache ${reason}; it is ignored (this run asks the store instead)` }
  if (code !== undefined) loaded.code = code
  return loaded
}

function parse(data: Buffer, storeId: string, now: Date): LoadedContentCache | string {
  const text = data.toString('latin1')
  if (!text.startsWith(CONTENT_CACHE_FORMAT + '\n')) {
    return text.startsWith('sysbackup-upload content versions ') ? 'is in a format this version does not read' : 'is not a content versions cache'
  }
  const checked = checkedLines(data, text, 3)
  if (typeof checked === 'string') return checked
  const storeLine = checked.head[1] ?? ''
  let cachedId: unknown
  try {
    cachedId = storeLine.startsWith('store ') ? JSON.parse(storeLine.slice(6)) : undefined
  } catch {
    cachedId = undefined
  }
  if (typeof cachedId !== 'string') return 'is corrupted (no store line)'
  if (cachedId !== storeId) return `belongs to another store (${cachedId})`
  const index = INDEX_LINE.exec(checked.head[2] ?? '')
  if (!index) return 'is corrupted (no index line)'

  // Version lines still retained are read in place (a VersionMap over the
  // file's bytes); every line's prefix goes into the index.
  const starts: number[] = []
  const ends: number[] = []
  let at = checked.entriesAt
  const prefixes: bigint[] = []
  let entries = 0
  for (const line of checked.entries) {
    const lineAt = at
    at += line.length + 1
    const v = VERSION_LINE.exec(line)
    if (v) {
      entries++
      prefixes.push(prefixOf(v[1]!))
      // Only a version still locked is sure to exist: after its date it may have been deleted.
      if (Number(v[2]) > now.getTime()) {
        starts.push(lineAt)
        ends.push(lineAt + line.length)
      }
      continue
    }
    const p = PREFIX_LINE.exec(line)
    if (!p) return 'is corrupted (malformed entry)'
    prefixes.push(BigInt(`0x${p[1]!}`))
  }
  // The key of a version line is its hash: `v <sha256> …`.
  const versions = new VersionMap(new LineTable(data, starts, ends, () => [2, 66]), undefined, entries - starts.length)
  return {
    entries,
    data: {
      versions,
      index: PrefixSet.of(prefixes),
      state: {
        complete: index[1] === '1',
        sweptAt: index[2] === '-' ? null : new Date(Number(index[2])),
        shared: index[3] === '1',
        versions: Number(index[4]),
      },
    },
  }
}
