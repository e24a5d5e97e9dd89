import type { StageContext } from '../../cli/stage.js'
import { FatalError } from '../../cli/errors.js'
import { decodePath, type FsPath } from '../../protocol/path-codec.js'
import { RecordError } from '../../protocol/read-records.js'
import { withFields, type FileRecord, type Rec } from '../../protocol/records.js'
import { NotFoundError, StoreError, storeErrorCode } from '../../store/errors.js'
import type { LockMode, Store } from '../../store/store.js'
import { mapOrdered, unlessAborted } from '../../util/concurrency.js'
import { errnoText } from '../hash/hash-records.js'
import type { KnownVersion } from './content-cache.js'
import type { ContentKnowledge } from './content-knowledge.js'
import { Limiter } from '../../util/limiter.js'
import { COMPRESSION_JOBS, uploadFile, type UploadFileOptions, type UploadOutcome } from './upload-file.js'

/**
 * Records in flight at once, in input order. Far more than the uploads
 * running (--jobs): records whose content is unknown wait here while enough
 * of them gather to decide between HEADs and a sweep (ContentKnowledge).
 * About a kilobyte each.
 */
export const WINDOW_RECORDS = 4096

/** Bytes of file content held in memory by uploads at once (read buffers, gzip output, multipart parts). */
export const MEMORY_BUDGET = 128 * 1024 * 1024

/** The trailer counters of this stage, all present (0) in every trailer. */
export const UPLOAD_COUNTERS = [
  'files', 'stored', 'reused', 'extended', 'wouldStore', 'wouldExtend', 'changed',
  'bytesRead', 'bytesStored', 'swept', 'heads', 'cacheLoaded', 'cacheSaved', 'manifestEntries', 'limitHeldMs',
] as const

/** What the stage does for one file record. */
export type UploadAction = 'stored' | 'reused' | 'extended' | 'would-store' | 'would-extend'

/** The counter of the file records given each action: every file record emitted counts under exactly one. */
const ACTION_COUNTERS: Record<UploadAction, (typeof UPLOAD_COUNTERS)[number]> = {
  'stored': 'stored', 'reused': 'reused', 'extended': 'extended', 'would-store': 'wouldStore', 'would-extend': 'wouldExtend',
}

export interface UploadOptions {
  store: Store
  knowledge: ContentKnowledge
  lockMode: LockMode
  /** The run's retain-until R: every content is retained at least until then. */
  retainUntil: Date
  /** R plus the slack: the retention given when storing or extending. */
  storeUntil: Date
  /** No writes: records say would-store / would-extend. */
  dryRun: boolean
  /** Uploads at once. */
  jobs: number
  /** Called once, before the first file record is handled; its records are emitted first. */
  beforeFirstFile?: () => Promise<Rec[]>
  /** Stops every upload and lookup when aborted; its reason is rethrown (a fatal store error). */
  stop: AbortController
  file: Pick<UploadFileOptions, 'gzipLevel' | 'smallFileMax' | 'streamBytes' | 'afterChunk'>
}

/** What other records with the same content get from the one that did the work; null: they must use their own file. */
type Shared = { known: KnownVersion | null, upload: UploadAction } | null
interface ContentResult {
  /** The records of the file record that did the work. */
  own: Rec[]
  shared: Shared
}

/**
 * The upload stage proper: makes sure the content of every `file` record
 * is stored at `content/<sha256>` and retained until at least
 * `retainUntil`, and emits the record with `key`, `versionId`,
 * `retainUntil` and `upload`, preceded by any warning about it. A file that
 * could not be read comes out as its error or warning record only. Every
 * other record passes through unchanged. Output order is input order.
 *
 * Records with the same content share one lookup and one upload; the
 * first does the work (`stored`, `extended`), the others are `reused`.
 *
 * Throws RecordError for a file record without a usable `sha256`, and the
 * store's FatalError (access denied, no bucket) as soon as it happens.
 */
export async function* uploadRecords(ctx: StageContext, records: AsyncIterable<Rec>, options: UploadOptions): AsyncGenerator<Rec> {
  for (const name of UPLOAD_COUNTERS) ctx.count(name, 0)
  const { store, knowledge, stop } = options
  const signal = stop.signal
  const uploads = new Limiter(options.jobs, signal)
  const memory = new Limiter(MEMORY_BUDGET, signal)
  const compressions = new Limiter(COMPRESSION_JOBS, signal)
  /**
   * Per distinct content: the work under way, then, once done, only what
   * the other records with that content get (never the records of the file
   * that did the work: holding those for the whole run held every output
   * record, 300 MB at 100,000 files), and only when the knowledge would not
   * give them the same (see answeredByKnowledge; holding every reuse took
   * 20 MB at 100,000 files).
   */
  const contents = new Map<string, Promise<ContentResult> | NonNullable<Shared>>()
  const fileOptions: UploadFileOptions = {
    ...options.file,
    store,
    lockMode: options.lockMode,
    retainUntil: options.storeUntil,
    memory,
    compressions,
    signal,
    isKnown: (sha) => knowledge.peek(sha) !== undefined,
  }

  /**
   * A file's records: at once when its content has a version known to be
   * retained long enough and no other record is working on it (a daily
   * run's usual case, which ensureContent would answer the same way, a few
   * promises later); else once looked up, stored or extended.
   */
  function handleFile(rec: Rec): Rec[] | Promise<Rec[]> {
    const file = checkedFile(rec)
    ctx.count('files')
    if (!contents.has(file.sha256)) {
      const known = knowledge.useKnown(file.sha256)
      if (known !== undefined && retainedLongEnough(known)) return [described(file, known, 'reused')]
    }
    return ensureRecords(file)
  }

  async function ensureRecords(file: CheckedFile): Promise<Rec[]> {
    try {
      for (;;) {
        const entry = contents.get(file.sha256)
        if (entry !== undefined && !(entry instanceof Promise)) return [described(file, entry.known, entry.upload)]
        const own = entry === undefined
        const pending = entry ?? ensureContent(file)
        if (own) {
          contents.set(file.sha256, pending)
          pending.then((done) => {
            if (contents.get(file.sha256) !== pending) return
            if (done.shared !== null && !answeredByKnowledge(file.sha256, done.shared)) contents.set(file.sha256, done.shared)
            else contents.delete(file.sha256)
          }, () => {})
        }
        const result = await pending
        if (own) return result.own
        if (result.shared !== null) return [described(file, result.shared.known, result.shared.upload)]
        // The record that did the work could not store this content from its file: try this one's.
        if (contents.get(file.sha256) === pending) contents.delete(file.sha256)
      }
    } catch (err) {
      if (signal.aborted) {
        if (signal.reason instanceof FatalError) throw signal.reason
        return [] // interrupted: the runner stops and says so
      }
      if (err instanceof StoreError) {
        return [ctx.problem('error', `${err.message}; not backed up`, { path: file.path, code: err.code })]
      }
      if (err instanceof FatalError) stop.abort(err)
      throw err
    }
  }

  /**
   * True when a later record with this content gets what `shared` gives
   * from the knowledge alone: a version known without a request, retained
   * long enough to be reused as it is.
   */
  function answeredByKnowledge(sha256: string, shared: NonNullable<Shared>): boolean {
    if (shared.upload !== 'reused' || shared.known === null) return false
    const known = knowledge.peek(sha256)
    return known !== undefined && known.versionId === shared.known.versionId && retainedLongEnough(known)
  }

  /** Whether a version is retained until this run's retainUntil at least: reused as it is. */
  function retainedLongEnough(known: KnownVersion): boolean {
    return known.retainUntil !== null && known.retainUntil.getTime() >= options.retainUntil.getTime()
  }

  /** Looks the content up and stores or extends it; the records of `file` and what the others with the same content get. */
  async function ensureContent(file: CheckedFile): Promise<ContentResult> {
    const known = await knowledge.lookup(file.sha256)
    if (known !== null) return keepRetained(file, known)
    return storeFromFile(file)
  }

  /** A stored version: reused when retained long enough, else its retention is extended. */
  async function keepRetained(file: CheckedFile, known: KnownVersion, before: Rec[] = []): Promise<ContentResult> {
    if (retainedLongEnough(known)) {
      return { own: [...before, described(file, known, 'reused')], shared: { known, upload: 'reused' } }
    }
    if (options.dryRun) {
      return { own: [...before, described(file, known, 'would-extend')], shared: { known, upload: 'would-extend' } }
    }
    const extended: KnownVersion = { versionId: known.versionId, retainUntil: options.storeUntil }
    try {
      await store.extendRetention(file.key, known.versionId, options.lockMode, options.storeUntil)
    } catch (err) {
      if (err instanceof NotFoundError) {
        // The version is gone (deleted once its lock ran out): store the content again.
        knowledge.forget(file.sha256)
        return storeFromFile(file, before)
      }
      // The store knows the version is retained longer still: nothing to do.
      if (storeErrorCode(err) !== 'WouldShortenRetention') throw err
      knowledge.learn(file.sha256, extended)
      return { own: [...before, described(file, extended, 'reused')], shared: { known: extended, upload: 'reused' } }
    }
    knowledge.learn(file.sha256, extended)
    return { own: [...before, described(file, extended, 'extended')], shared: { known: extended, upload: 'reused' } }
  }

  /** Reads the file again and stores its content. */
  async function storeFromFile(file: CheckedFile, before: Rec[] = []): Promise<ContentResult> {
    if (options.dryRun) {
      return { own: [...before, described(file, null, 'would-store')], shared: { known: null, upload: 'would-store' } }
    }
    const outcome = await uploads.run(1, () => uploadFile(file.path, { sha256: file.sha256, size: file.readSize, gzip: file.gzip }, fileOptions))
    ctx.count('bytesRead', outcome.bytesRead)
    return afterUpload(file, outcome, before)
  }

  function afterUpload(file: CheckedFile, outcome: UploadOutcome, before: Rec[]): ContentResult | Promise<ContentResult> {
    const path = file.path
    switch (outcome.kind) {
      case 'gone':
        return { own: [...before, ctx.problem('warning', 'vanished since it was hashed; not backed up', { path, code: outcome.code })], shared: null }
      case 'not-regular':
        return { own: [...before, ctx.problem('error', `is no longer a regular file (it is now ${outcome.what}); not backed up`, { path })], shared: null }
      case 'failed':
        return { own: [...before, ctx.problem('error', `cannot ${outcome.step}: ${errnoText(outcome.code)}; not backed up`, { path, code: outcome.code })], shared: null }
      case 'aborted':
        return { own: [], shared: null }
      case 'unstable':
        return { own: [...before, ctx.problem('error', 'changed during each of 3 reads for upload; not backed up', { path })], shared: null }
    }
    const same = outcome.sha256 === file.sha256
    const warnings = same ? before : [...before, changedWarning(file, outcome.sha256, outcome.kind === 'known')]
    const now: CheckedFile = same ? file : { ...file, sha256: outcome.sha256, key: `content/${outcome.sha256}`, readSize: outcome.readSize,
      rec: withFields(file.rec, { sha256: outcome.sha256, readSize: outcome.readSize }) }
    if (outcome.kind === 'known') {
      const known = knowledge.peek(outcome.sha256)
      const kept = known === undefined ? storeFromFile(now, warnings) : keepRetained(now, known, warnings)
      return kept.then((r) => ({ own: r.own, shared: same ? r.shared : null }))
    }
    const known: KnownVersion = { versionId: outcome.versionId, retainUntil: options.storeUntil }
    knowledge.learn(outcome.sha256, known, true)
    ctx.count('bytesStored', outcome.bytesStored)
    return { own: [...warnings, described(now, known, 'stored')], shared: same ? { known, upload: 'reused' } : null }
  }

  function changedWarning(file: CheckedFile, sha256: string, storedAlready: boolean): Rec {
    ctx.count('changed')
    const what = storedAlready ? `its new content ${sha256} is stored already` : `stored under its new content ${sha256}`
    return ctx.problem('warning', `changed since it was hashed; ${what}`, { path: file.path })
  }

  // Records wait in the window while their content is looked up. When the
  // window is full (or the input ends), no more hashes can join a queued
  // lookup decision, so the knowledge is told to decide now.
  let pulled = 0
  let emitted = 0
  /** `first`, then the rest of the input, counted as they are pulled. */
  async function* counted(first: Rec, rest: AsyncIterator<Rec>): AsyncGenerator<Rec> {
    try {
      for (let n: IteratorResult<Rec> = { done: false, value: first }; n.done !== true; n = await rest.next()) {
        pulled++
        knowledge.setInputStalled(false)
        yield n.value
      }
    } catch (err) {
      // A bad input line: nothing waiting for more input will get it.
      knowledge.fail(err)
      throw err
    }
    knowledge.setInputStalled(true)
  }
  const handle = (rec: Rec): Rec[] | Promise<Rec[]> => {
    const out = rec.type === 'file' ? handleFile(rec) : [rec]
    if (pulled - emitted >= WINDOW_RECORDS) knowledge.setInputStalled(true)
    return out
  }

  const onAbort = () => knowledge.fail(signal.reason)
  signal.addEventListener('abort', onAbort, { once: true })
  const input = records[Symbol.asyncIterator]()
  let results: AsyncIterator<Rec[]> | undefined
  let finished = false
  // Once stopped (a signal, a fatal store error), stop at once: a request in
  // flight may take minutes to time out, and its answer is no longer needed.
  const untilStopped = <T>(p: Promise<T>): Promise<T> => unlessAborted(p, signal)
  try {
    // Records before the first file record pass at once; knowledge is gathered only when a file needs it.
    let first: Rec | undefined
    for (let n = await untilStopped(input.next()); !n.done; n = await untilStopped(input.next())) {
      if (n.value.type === 'file') {
        first = n.value
        break
      }
      yield n.value
    }
    if (first !== undefined) {
      if (options.beforeFirstFile) for (const rec of await untilStopped(options.beforeFirstFile())) yield rec
      results = mapOrdered(counted(first, input), WINDOW_RECORDS, handle)
      for (let n = await untilStopped(results.next()); !n.done; n = await untilStopped(results.next())) {
        emitted++
        // A plain loop: `yield*` over an array costs several promise turns per element.
        for (const rec of n.value) yield rec
      }
    }
    finished = true
  } catch (err) {
    // Interrupted: the runner says so; a fatal error goes up as itself.
    if (signal.aborted && !(signal.reason instanceof FatalError)) return
    throw err
  } finally {
    // Stopped early (the reader went away): records waiting for a lookup must not wait forever.
    if (!finished) knowledge.fail(signal.aborted ? signal.reason : new Error('the stage stopped'))
    signal.removeEventListener('abort', onAbort)
    if (signal.aborted) {
      // Requests in flight end on their own; the process does not wait for them.
      results?.return?.(undefined).catch(() => {})
    } else {
      await results?.return?.(undefined)
      await knowledge.settle()
    }
  }

  /** The output record of `file`; counts it under its action. */
  function described(file: CheckedFile, known: KnownVersion | null, upload: UploadAction): Rec {
    ctx.count(ACTION_COUNTERS[upload])
    const out: Rec = withFields(file.rec, { key: file.key })
    if (known !== null) {
      out.versionId = known.versionId
      if (known.retainUntil !== null) out.retainUntil = known.retainUntil.toISOString()
    }
    out.upload = upload
    return out
  }
}

/** A file record checked for what upload needs. */
interface CheckedFile {
  rec: Rec
  path: FsPath
  sha256: string
  key: string
  readSize: number
  gzip: boolean
}

const SHA256 = /^[0-9a-f]{64}$/

/** Throws RecordError for a file record that has not been through sysbackup-hash. */
function checkedFile(rec: Rec): CheckedFile {
  const file = rec as Partial<FileRecord>
  if (file.sha256 === undefined) throw new RecordError(rec, 'file record has no "sha256" (run it through sysbackup-hash first)')
  if (typeof file.sha256 !== 'string' || !SHA256.test(file.sha256)) throw new RecordError(rec, 'file record: "sha256" is not 64 lower-case hex digits')
  if (file.gzip !== undefined && typeof file.gzip !== 'boolean') throw new RecordError(rec, 'file record: "gzip" is not true or false')
  if (file.readSize !== undefined && (!Number.isSafeInteger(file.readSize) || file.readSize < 0)) {
    throw new RecordError(rec, 'file record: "readSize" is not a non-negative integer')
  }
  return {
    rec,
    path: decodePath(rec),
    sha256: file.sha256,
    key: `content/${file.sha256}`,
    readSize: file.readSize ?? file.size!,
    gzip: file.gzip ?? false,
  }
}
