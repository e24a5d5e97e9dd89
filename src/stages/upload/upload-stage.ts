import { setMaxListeners } from 'node:events'
import { resolve } from 'node:path'
import type { OptionSpec, ParsedArgs } from '../../cli/args.js'
import { UsageError } from '../../cli/errors.js'
import type { StageContext, StageSpec } from '../../cli/stage.js'
import { loadConfig } from '../../config/load-config.js'
import type { FsPath } from '../../protocol/path-codec.js'
import type { Rec } from '../../protocol/records.js'
import { limitHeldMs, LIMIT_UPLOAD_OPTION } from '../../store/upload-limit.js'
import { openStore, STORE_OPTION } from '../../store/open-store.js'
import { DEFAULT_PART_SIZE } from '../../store/parts.js'
import type { LockMode, Store } from '../../store/store.js'
import { errnoText } from '../hash/hash-records.js'
import { contentCacheFile, loadContentCache, saveContentCache, type LoadedContentCache } from './content-cache.js'
import { ContentKnowledge } from './content-knowledge.js'
import { manifestShare } from '../manifest-share.js'
import { readManifestKnowledge } from './manifest-knowledge.js'
import { addDays, headerFieldsOf, RUN_OPTIONS, runIdentity } from '../run-identity.js'
import { gzipLevelOf, GZIP_LEVEL_OPTION } from './gzip-level.js'
import { SMALL_FILE_MAX, streamMemory } from './upload-file.js'
import { UPLOAD_COUNTERS, uploadRecords } from './upload-records.js'

/**
 * Uploads (and HEADs) at once by default. An upload of a small file is
 * one request whose time is mostly round trip, so many overlap well;
 * each may hold up to a small file's size twice (content and gzip output)
 * within the memory budget. Requests at once divided by the round trip is
 * the most a second can store, up to what the SDK's ~2 ms of CPU per
 * request allows (about 500 a second): 32 keep that busy up to about 60 ms
 * of round trip, where 8 reach a quarter of it. Measured with
 * bench/latency.ts (a proxy holds each request for the round trip), a
 * first run of 2,704 files: 55.5 s with 8 against 27.3 s with 32 at 150 ms
 * (then moto's own ~100 requests a second were the bound), the same at
 * 50 ms, and 24.5 against 26.1 s with none (moto busier).
 */
export const DEFAULT_JOBS = 32
const MAX_JOBS = 256

/** --jobs of the upload stage, checked; undefined when not given. */
export function uploadJobsFromArgs(args: ParsedArgs): number | undefined {
  const jobs = args.number('jobs')
  if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1 || jobs > MAX_JOBS)) {
    throw new UsageError(`option --jobs: ${jobs} is not a whole number from 1 to ${MAX_JOBS}`)
  }
  return jobs
}

const OPTIONS: OptionSpec[] = [
  { name: 'config', alias: 'c', type: 'string', arg: 'DIR', help: 'configuration directory (default $S3_SYSBACKUP_CONFIG or /etc/backup)' },
  STORE_OPTION,
  LIMIT_UPLOAD_OPTION,
  { name: 'state-dir', type: 'string', arg: 'DIR', help: 'directory of the content versions cache (default: [state] dir)' },
  ...RUN_OPTIONS,
  { name: 'jobs', alias: 'j', type: 'number', arg: 'N', help: `uploads and HEAD requests at once (default ${DEFAULT_JOBS})` },
  GZIP_LEVEL_OPTION,
  { name: 'dry-run', alias: 'n', type: 'flag', help: 'write nothing: say what would be stored or extended (read-only requests are still made)' },
  { name: 'no-cache', type: 'flag', help: 'ask the store about all content, ignoring the cache and manifests (a fresh cache is still written)' },
]

/** Settings of one run, from the options and the configuration. */
interface UploadSettings {
  stateDir: string
  runTime: Date
  retainUntil: Date
  storeUntil: Date
  lockMode: LockMode
  host: string
  jobs: number
  gzipLevel: number
  dryRun: boolean
  useCache: boolean
  pageSize: number
  partSize: number
}

export interface UploadStageHooks {
  /** Multipart part size (at least 5 MiB on S3); also the memory charge of a streamed upload. */
  partSize?: number
  /** Listing page size (tests use small pages to count them). */
  pageSize?: number
  /** Files larger than this are streamed rather than read whole. */
  smallFileMax?: number
  /** Called after each chunk of a streamed file is read (tests change the file there). */
  afterChunk?: (path: FsPath, bytesRead: number) => void | Promise<void>
  /** The wall clock (default: the system's). */
  clock?: () => Date
}

/** The sysbackup-upload stage; `hooks` exist for tests. */
export function makeUploadStage(hooks: UploadStageHooks = {}): StageSpec {
  return {
    name: 'sysbackup-upload',
    synopsis: '[options] < hashed.ndjson > uploaded.ndjson',
    summary: 'Makes sure the content of each hashed file record is stored once at content/<sha256>,\n'
      + 'locked and retained until the run\'s retain-until date, and adds key, versionId,\n'
      + 'retainUntil and upload to the record; passes every other record through unchanged.',
    options: OPTIONS,
    readsRecords: true,
    async start(ctx, args) {
      if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}" (input is read from stdin)`)
      const jobs = uploadJobsFromArgs(args)
      const clock = hooks.clock ?? (() => new Date())
      const loaded = loadConfig(args.string('config'), ctx.io.env)
      const { host, runTime, retainUntil } = runIdentity(args, loaded, clock())
      const content = loaded.values.content
      const dryRun = args.flag('dry-run')
      const partSize = hooks.partSize ?? DEFAULT_PART_SIZE
      const pageSize = hooks.pageSize ?? 1000
      const settings: UploadSettings = {
        stateDir: resolve(args.string('state-dir') ?? loaded.values.state.dir),
        runTime,
        retainUntil,
        storeUntil: addDays(retainUntil, content.extend_days),
        lockMode: content.lock_mode as LockMode,
        host,
        jobs: jobs ?? DEFAULT_JOBS,
        gzipLevel: gzipLevelOf(args.number('gzip-level')) ?? content.gzip_level,
        dryRun,
        useCache: !args.flag('no-cache'),
        pageSize,
        partSize,
      }
      const storeDir = args.string('store')
      const store = await openStore(loaded, {
        ...(storeDir !== undefined && { storeDir }),
        access: dryRun ? 'dry-run' : 'write',
        ...(args.has('limit-upload') && { limitUpload: args.string('limit-upload')! }),
        deferLockCheck: true,
        env: ctx.io.env,
        partSize,
        pageSize,
      })
      Object.assign(ctx.headerFields, headerFieldsOf({ host, runTime, retainUntil }), { store: store.id })
      return run(ctx, settings, store, hooks, clock)
    },
  }
}

export const uploadStage: StageSpec = makeUploadStage()

/**
 * Loads the content versions cache, uploads, and saves the cache with what
 * the run learned (not in a dry run). A run that read its whole input with
 * every upstream trailer ok saves the versions it used; any other run keeps
 * the previous ones too, since each stays true while it is retained.
 */
async function* run(ctx: StageContext, settings: UploadSettings, store: Store, hooks: UploadStageHooks, wallClock: () => Date): AsyncGenerator<Rec> {
  // "Now" for trust in remembered retention: never before the run time, so a
  // run dated ahead (tests, a clock stepped back) trusts no more than it should.
  const clock = () => new Date(Math.max(wallClock().getTime(), settings.runTime.getTime()))
  for (const name of UPLOAD_COUNTERS) ctx.count(name, 0)
  const cacheFile = contentCacheFile(settings.stateDir, store.cacheId)
  const loaded: LoadedContentCache = settings.useCache ? await loadContentCache(cacheFile, store.cacheId, clock()) : { data: null, entries: 0 }
  if (loaded.problem !== undefined) {
    const fields: { path: string, code?: string } = { path: cacheFile }
    if (loaded.code !== undefined) fields.code = loaded.code
    yield ctx.problem('warning', loaded.problem, fields)
  }
  const stop = new AbortController()
  // Every upload and request in flight listens to it (the SDK adds a listener per request).
  setMaxListeners(0, stop.signal)
  const onInterrupt = () => stop.abort(ctx.signal.reason)
  ctx.signal.addEventListener('abort', onInterrupt, { once: true })
  const knowledge = new ContentKnowledge(loaded.data, {
    store, clock, jobs: settings.jobs, pageSize: settings.pageSize, signal: stop.signal, log: (m) => ctx.log(m),
  })
  ctx.count('cacheLoaded', loaded.data?.versions.size ?? 0)

  // The hash stage of this process, if any, collects this host's newest manifest's versions as it reads it.
  const share = settings.useCache && knowledge.knowsNothing ? manifestShare.want(store.id, settings.host, clock()) : undefined

  /** Knowledge from this host's newest manifest, when the cache knows nothing. */
  async function seedFromManifest(): Promise<Rec[]> {
    if (!settings.useCache || !knowledge.knowsNothing) return []
    const found = await readManifestKnowledge(store, settings.host, clock(), share?.collected)
    switch (found.kind) {
      case 'read':
        knowledge.seed(found.versions)
        ctx.count('manifestEntries', found.versions.size)
        return []
      case 'refused':
        ctx.log(`manifests of ${settings.host} cannot be read (${found.message}); asking the store about content instead`)
        return []
      case 'unusable':
        return [ctx.problem('warning', `manifest ${found.key} cannot be used (${found.message}); asking the store about content instead`)]
    }
  }

  const input = ctx.input()
  let finished = false
  try {
    yield* uploadRecords(ctx, input, {
      store,
      knowledge,
      lockMode: settings.lockMode,
      retainUntil: settings.retainUntil,
      storeUntil: settings.storeUntil,
      dryRun: settings.dryRun,
      jobs: settings.jobs,
      beforeFirstFile: seedFromManifest,
      stop,
      file: {
        gzipLevel: settings.gzipLevel,
        smallFileMax: hooks.smallFileMax ?? SMALL_FILE_MAX,
        streamBytes: streamMemory(settings.partSize),
        ...(hooks.afterChunk && { afterChunk: hooks.afterChunk }),
      },
    })
    finished = true
    const complete = input.truncation() === null && input.upstreamProblems.length === 0 && !ctx.signal.aborted
    const failure = await save(complete)
    // A state dir that could not be read will not be writable either: one warning says it.
    if (failure !== undefined && failure.code !== loaded.code) yield ctx.problem('warning', failure.message, { path: cacheFile, code: failure.code })
  } finally {
    share?.withdraw()
    ctx.signal.removeEventListener('abort', onInterrupt)
    if (!finished) {
      const failure = await save(false)
      if (failure !== undefined) ctx.log(`warning: ${cacheFile}: ${failure.message}`)
    }
    ctx.counts.swept = knowledge.counts.swept
    ctx.counts.heads = knowledge.counts.heads
    // In an archive's process the manifest stage shares the limit: this is the time up to the last content stored.
    ctx.counts.limitHeldMs = Math.round(limitHeldMs())
    for (const [api, n] of Object.entries(store.requests.snapshot())) ctx.counts[`req.${api}`] = n
  }

  async function save(complete: boolean): Promise<{ message: string, code: string } | undefined> {
    if (settings.dryRun) return undefined
    try {
      // The cache must never name a version that is not durable yet (a local store batches durability).
      await store.makeDurable?.()
      ctx.count('cacheSaved', await saveContentCache(cacheFile, store.cacheId, knowledge.toCacheData(!complete), loaded.bytes))
      return undefined
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO'
      return { code, message: `content versions cache not saved: ${errnoText(code)}; the next run asks the store again` }
    }
  }
}
