import { join, resolve } from 'node:path'
import type { OptionSpec } from '../../cli/args.js'
import { UsageError } from '../../cli/errors.js'
import type { StageContext, StageSpec } from '../../cli/stage.js'
import { loadConfig } from '../../config/load-config.js'
import type { Rec } from '../../protocol/records.js'
import { resolveHost } from '../../config/host.js'
import { openStore, STORE_OPTION } from '../../store/open-store.js'
import type { Store } from '../../store/store.js'
import { FILES_CACHE_NAME, FilesCache } from './files-cache.js'
import { manifestShare } from '../manifest-share.js'
import { seedFromManifest, type ManifestSeed } from './manifest-seed.js'
import { countRequests } from '../request-counters.js'
import { errnoText, HASH_COUNTERS, hashRecords } from './hash-records.js'

/**
 * Files read at once by default. Measured with bench/hash.ts (20,000 files,
 * 910 MB, page cache warm, 2 busy cores): --jobs 1 took 16.5 s, 2 to 16
 * took 11 to 14 s with no clear order among them. With 4, the thread pool's
 * four threads keep file system calls going while the main thread hashes;
 * more jobs help on disks with real seek latency. Each costs a 1 MiB buffer.
 */
export const DEFAULT_JOBS = 4
const MAX_JOBS = 256

const OPTIONS: OptionSpec[] = [
  { name: 'config', alias: 'c', type: 'string', arg: 'DIR', help: 'configuration directory (default $S3_SYSBACKUP_CONFIG or /etc/backup)' },
  { name: 'state-dir', type: 'string', arg: 'DIR', help: 'directory of the files cache (default: [state] dir)' },
  { name: 'lock-timeout', type: 'number', arg: 'SECONDS', help: 'wait this long for a shared lock on each file (default: [content] lock_timeout)' },
  { name: 'jobs', alias: 'j', type: 'number', arg: 'N', help: `files read at once (default ${DEFAULT_JOBS})` },
  { name: 'no-cache', type: 'flag', help: 'read every file, ignoring cached hashes (a fresh cache is still written)' },
  { name: 'from-manifest', type: 'flag', help: 'when there is no files cache, take the hashes of files unchanged since this host\'s newest manifest in the store (one LIST and one GET) instead of reading them' },
  { name: 'host', type: 'string', arg: 'NAME', help: 'with --from-manifest: the host whose manifest to use (default: [archive] host, else the host name)' },
  STORE_OPTION,
]

/** Settings of one run, from the options and the configuration. */
export interface HashSettings {
  stateDir: string
  lockTimeoutMs: number
  jobs: number
  useCache: boolean
  /** With --from-manifest: where to find this host's newest manifest. */
  fromManifest?: { host: string, open: () => Promise<Store> }
}

export interface HashStageHooks {
  /** Wall clock in nanoseconds, for tests of the racy-timestamp rule. */
  nowNs?: () => bigint
}

/** The sysbackup-hash stage; `hooks` exist for tests. */
export function makeHashStage(hooks: HashStageHooks = {}): StageSpec {
  return {
    name: 'sysbackup-hash',
    synopsis: '[options] < picked.ndjson > hashed.ndjson',
    summary: 'Adds sha256, readSize, gzip and lockedRead to each file record, reading only files\n'
      + 'the files cache does not know; passes every other record through unchanged.',
    options: OPTIONS,
    readsRecords: true,
    async start(ctx, args) {
      if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}" (input is read from stdin)`)
      const jobs = args.number('jobs')
      if (jobs !== undefined && (!Number.isInteger(jobs) || jobs < 1 || jobs > MAX_JOBS)) {
        throw new UsageError(`option --jobs: ${jobs} is not a whole number from 1 to ${MAX_JOBS}`)
      }
      const lockTimeout = args.number('lock-timeout')
      if (lockTimeout !== undefined && lockTimeout < 0) throw new UsageError(`option --lock-timeout: ${lockTimeout} is negative`)
      const loaded = loadConfig(args.string('config'), ctx.io.env)
      const config = loaded.values
      const settings: HashSettings = {
        stateDir: resolve(args.string('state-dir') ?? config.state.dir),
        lockTimeoutMs: (lockTimeout ?? config.content.lock_timeout) * 1000,
        jobs: jobs ?? DEFAULT_JOBS,
        useCache: !args.flag('no-cache'),
      }
      if (args.flag('from-manifest')) {
        const storeDir = args.string('store')
        settings.fromManifest = {
          host: resolveHost(args.string('host'), loaded),
          open: () => openStore(loaded, { access: 'read', env: ctx.io.env, ...(storeDir !== undefined && { storeDir }) }),
        }
      } else if (args.has('host') || args.has('store')) {
        throw new UsageError(`--${args.has('host') ? 'host' : 'store'} is for --from-manifest`)
      }
      return run(ctx, settings, hooks)
    },
  }
}

export const hashStage: StageSpec = makeHashStage()

/**
 * Loads the files cache, hashes the input, and saves the cache. A run that
 * read its input to the end, with every upstream trailer present and ok,
 * saves only its own entries, so deleted files drop out; any other run (a
 * truncated input, an upstream failure, a signal, a closed stdout, a fatal
 * input error) keeps the previous entries as well, since every entry is
 * keyed by identity and stays correct.
 */
async function* run(ctx: StageContext, settings: HashSettings, hooks: HashStageHooks): AsyncGenerator<Rec> {
  for (const name of HASH_COUNTERS) ctx.count(name, 0)
  const cacheFile = join(settings.stateDir, FILES_CACHE_NAME)
  const loaded = await FilesCache.load(cacheFile)
  const { cache } = loaded
  ctx.count('cacheLoaded', cache.loadedEntries)
  if (loaded.problem !== undefined) {
    const fields: { path: string, code?: string } = { path: cacheFile }
    if (loaded.code !== undefined) fields.code = loaded.code
    yield ctx.problem('warning', loaded.problem, fields)
  }

  if (settings.fromManifest && settings.useCache && cache.loadedEntries === 0) yield* seed(settings.fromManifest)

  const input = ctx.input()
  let finished = false
  try {
    const options = { jobs: settings.jobs, lockTimeoutMs: settings.lockTimeoutMs, cache, useCache: settings.useCache }
    yield* hashRecords(ctx, input, hooks.nowNs ? { ...options, nowNs: hooks.nowNs } : options)
    finished = true
    // An upstream stage that failed may have left files out: keep their entries.
    const complete = input.truncation() === null && input.upstreamProblems.length === 0 && !ctx.signal.aborted
    const failure = await save(complete)
    // A state dir we could not read will not be writable either: one warning says it.
    if (failure !== undefined && failure.code !== loaded.code) yield ctx.problem('warning', failure.message, { path: cacheFile, code: failure.code })
  } finally {
    if (!finished) {
      const failure = await save(false)
      if (failure !== undefined) ctx.log(`warning: ${cacheFile}: ${failure.message}`)
    }
  }

  /** Fills the empty cache from the host's newest manifest; a failure only costs reading the files. */
  async function* seed(from: NonNullable<HashSettings['fromManifest']>): AsyncGenerator<Rec> {
    let found: ManifestSeed
    try {
      const store = await from.open()
      found = await seedFromManifest(cache, store, from.host, manifestShare.collector(store.id, from.host))
      // Its LIST and GET are counted with the other stages' requests (the archive's summary).
      countRequests(ctx, store)
    } catch (err) {
      found = { kind: 'unusable', message: (err as Error).message }
    }
    switch (found.kind) {
      case 'seeded':
        ctx.count('cacheSeeded', found.entries)
        return
      case 'refused':
        ctx.log(`manifests of ${from.host} cannot be read (${found.message}); every file is read`)
        return
      case 'unusable':
        yield ctx.problem('warning', `${found.key === undefined ? 'no manifest' : `manifest ${found.key}`} to fill the files cache from (${found.message}); every file is read`)
    }
  }

  async function save(complete: boolean): Promise<{ message: string, code: string } | undefined> {
    try {
      ctx.count('cacheSaved', await cache.save(cacheFile, !complete))
      return undefined
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? 'EIO'
      return { code, message: `files cache not saved: ${errnoText(code)}; the next run reads these files again` }
    }
  }
}
