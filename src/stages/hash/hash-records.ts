import { getSystemErrorMap } from 'node:util'
import type { StageContext } from '../../cli/stage.js'
import { decodePath, type FsPath } from '../../protocol/path-codec.js'
import { withFields, type FileRecord, type Rec } from '../../protocol/records.js'
import { mapOrdered } from '../../util/concurrency.js'
import { Limiter } from '../../util/limiter.js'
import type { FilesCache } from './files-cache.js'
import { identityKey, identityOfRecord, identityOfStats, sameIdentity, updatedFromStats, type FileIdentity } from './identity.js'
import { readContent, wallClockNs, type ContentRead } from './read-content.js'

/**
 * A result is not cached when the file's mtime or ctime is this close to
 * (or after) the moment reading began: a write in the same timestamp tick
 * right after our read would leave the identity unchanged, and the cache
 * would then hold a hash of content the file no longer has ("racy git").
 * Two seconds covers coarse filesystem timestamps (FAT: 2 s) and the lag of
 * the kernel's cached clock behind the wall clock.
 */
export const RACY_WINDOW_NS = 2_000_000_000n

/** Size of each read, and of each reused read buffer (one per job). */
export const READ_CHUNK_BYTES = 1024 * 1024

/**
 * Records in flight at once, in input order; `jobs` limits only the files
 * being read. With a window of `jobs` records, a file being read at the
 * head held back every record after it, cache hits included, and the run
 * waited for the read (a run after a 1% change sat idle ~0.5 s in 3.8).
 * A few hundred bytes each.
 */
export const WINDOW_RECORDS = 1024

/** The trailer counters of this stage, all present (0) in every trailer. */
export const HASH_COUNTERS = [
  'files', 'cacheHits', 'filesRead', 'bytesRead', 'unlockedReads', 'changed', 'changedDuringRead',
  'notCached', 'vanished', 'notRegular', 'unreadable', 'cacheLoaded', 'cacheSeeded', 'cacheSaved',
] as const

export interface HashOptions {
  /** Files read at once. */
  jobs: number
  /** How long to wait for the shared lock on each file. */
  lockTimeoutMs: number
  cache: FilesCache
  /** False for --no-cache: cached hashes are not used, though this run's are still remembered. */
  useCache: boolean
  /** Wall clock, nanoseconds since the epoch (tests move it forward). */
  nowNs?: () => bigint
}

/**
 * The hash stage proper: every `file` record comes out with `sha256`,
 * `readSize`, `gzip` and `lockedRead` (from the cache, or by reading the
 * file), preceded by any warning about it; a file that could not be read
 * comes out as its error or warning record only. Every other record passes
 * through unchanged. Output order is input order; up to `jobs` files are
 * read at once.
 *
 * Throws RecordError for a file record without the fields hashing needs.
 */
export async function* hashRecords(ctx: StageContext, records: AsyncIterable<Rec> | Iterable<Rec>, options: HashOptions): AsyncGenerator<Rec> {
  for (const name of HASH_COUNTERS) ctx.count(name, 0)
  const buffers: Buffer[] = []
  const reads = new Limiter(options.jobs)
  const nowNs = options.nowNs ?? wallClockNs

  /** A file's records: at once from the cache, else once it is read. */
  function hashFile(rec: Rec): Rec[] | Promise<Rec[]> {
    ctx.count('files')
    const claimed = identityOfRecord(rec)
    if (options.useCache) {
      const hit = options.cache.lookup(identityKey(claimed))
      if (hit) {
        ctx.count('cacheHits')
        return [withFields(rec, { sha256: hit.sha256, readSize: claimed.size, gzip: hit.gzip, lockedRead: true })]
      }
    }
    return readFile(rec, claimed)
  }

  async function readFile(rec: Rec, claimed: FileIdentity): Promise<Rec[]> {
    const path = decodePath(rec)
    const outcome = await reads.run(1, async () => {
      const buffer = buffers.pop() ?? Buffer.allocUnsafe(READ_CHUNK_BYTES)
      try {
        return await readContent(path, { lockTimeoutMs: options.lockTimeoutMs, buffer, signal: ctx.signal, nowNs })
      } finally {
        buffers.push(buffer)
      }
    })
    switch (outcome.kind) {
      case 'gone':
        ctx.count('vanished')
        return [ctx.problem('warning', 'vanished since it was picked; not backed up', { path, code: outcome.code })]
      case 'not-regular':
        ctx.count('notRegular')
        return [ctx.problem('error', `is no longer a regular file (it is now ${outcome.what}); not backed up`, { path })]
      case 'failed':
        ctx.count('unreadable')
        return [ctx.problem('error', `cannot ${outcome.step}: ${errnoText(outcome.code)}; not backed up`, { path, code: outcome.code })]
      case 'aborted':
        return []
    }
    return described(rec as FileRecord, claimed, path, outcome)
  }

  /** The records for a file that was read: warnings first, then the hashed record. */
  function described(rec: FileRecord, claimed: FileIdentity, path: FsPath, read: ContentRead): Rec[] {
    ctx.count('filesRead')
    ctx.count('bytesRead', read.readSize)
    const out: Rec[] = []
    const actual = identityOfStats(read.before)
    let file = rec
    if (!sameIdentity(claimed, actual)) {
      ctx.count('changed')
      file = updatedFromStats(rec, read.before)
      out.push(ctx.problem('warning', `changed since it was picked (${differences(claimed, actual)}); recorded as read`, { path }))
    }
    if (!read.lock.locked) {
      ctx.count('unlockedReads')
      const why = read.lock.code === 'EWOULDBLOCK'
        ? `another process held an exclusive lock for ${options.lockTimeoutMs / 1000} s`
        : `flock failed: ${errnoText(read.lock.code)}`
      out.push(ctx.problem('warning', `read without a shared lock (${why})`, { path, code: read.lock.code }))
    }
    const after = identityOfStats(read.after)
    const stable = sameIdentity(actual, after) && read.readSize === actual.size
    if (!stable) {
      ctx.count('changedDuringRead')
      const what = sameIdentity(actual, after) ? `read ${read.readSize} bytes of ${actual.size}` : differences(actual, after)
      out.push(ctx.problem('warning', `changed while it was read (${what}); the hash is of the bytes read`, { path }))
    }
    const racyAfter = read.startedNs - RACY_WINDOW_NS
    const racy = BigInt(actual.mtimeNs) > racyAfter || BigInt(actual.ctimeNs) > racyAfter
    if (stable && read.lock.locked && !racy) {
      options.cache.remember(identityKey(actual), { sha256: read.sha256, gzip: read.gzip })
    } else {
      ctx.count('notCached')
    }
    out.push(withFields(file, { sha256: read.sha256, readSize: read.readSize, gzip: read.gzip, lockedRead: read.lock.locked }))
    return out
  }

  const results = mapOrdered(records, WINDOW_RECORDS, (rec) => rec.type === 'file' ? hashFile(rec) : [rec])
  for await (const out of results) {
    // A plain loop: `yield*` over an array costs several promise turns per element.
    for (const rec of out) yield rec
  }
}

/** "size 10 -> 12, mtime" — which identity fields differ. */
function differences(a: FileIdentity, b: FileIdentity): string {
  const parts: string[] = []
  if (a.storageId !== b.storageId) parts.push(`inode ${a.storageId} -> ${b.storageId}`)
  if (a.size !== b.size) parts.push(`size ${a.size} -> ${b.size}`)
  if (a.mtimeNs !== b.mtimeNs) parts.push('mtime')
  if (a.ctimeNs !== b.ctimeNs) parts.push('ctime')
  return parts.join(', ')
}

let errnoMessages: Map<string, string> | undefined

/** "EACCES (permission denied)" for an errno code. */
export function errnoText(code: string): string {
  errnoMessages ??= new Map([...getSystemErrorMap().values()].map(([name, message]) => [name, message]))
  const message = errnoMessages.get(code)
  return message ? `${code} (${message})` : code
}
