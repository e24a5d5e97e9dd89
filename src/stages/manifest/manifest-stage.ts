import { fstatSync } from 'node:fs'
import { open } from 'node:fs/promises'
import { Socket } from 'node:net'
import { tmpdir } from 'node:os'
import type { OptionSpec } from '../../cli/args.js'
import { UsageError } from '../../cli/errors.js'
import type { StageSpec } from '../../cli/stage.js'
import { loadConfig } from '../../config/load-config.js'
import { LIMIT_UPLOAD_OPTION } from '../../store/upload-limit.js'
import { openStore, STORE_OPTION, type OpenStoreOptions } from '../../store/open-store.js'
import { errnoText } from '../../util/errno-text.js'
import { headerFieldsOf, RUN_OPTIONS, runIdentity } from '../run-identity.js'
import type { InputSource } from './collect-inputs.js'
import { buildManifest } from './manifest.js'

/**
 * Memory for sorting entries before sorted runs are spilled to disk, in
 * MiB: about 30,000 typical entries. Measured with bench/manifest.ts
 * (200,000 entries, whole process): peak RSS 308 MiB with 64, 231 MiB with
 * 16, 186 MiB with 4, 156 MiB with 1, for 8.1, 8.3, 8.3 and 9.4 s of CPU;
 * a million entries at 16 make some 35 runs, merged in one pass.
 */
export const DEFAULT_SORT_MEMORY_MIB = 16

const OPTIONS: OptionSpec[] = [
  { name: 'config', alias: 'c', type: 'string', arg: 'DIR', help: 'configuration directory (default $S3_SYSBACKUP_CONFIG or /etc/backup)' },
  STORE_OPTION,
  LIMIT_UPLOAD_OPTION,
  ...RUN_OPTIONS,
  { name: 'output', alias: 'o', type: 'string', arg: 'FILE', help: 'also write the manifest, uncompressed, to FILE' },
  { name: 'tmp-dir', type: 'string', arg: 'DIR', help: 'where to put spill files of big manifests (default $TMPDIR or /tmp)' },
  { name: 'sort-memory', type: 'number', arg: 'MIB', help: `memory for sorting entries before spilling to disk (default ${DEFAULT_SORT_MEMORY_MIB})` },
  { name: 'dry-run', type: 'flag', help: 'check and build the manifest, but store nothing' },
]

export interface ManifestStageHooks {
  /** Clock for the default run time and the manifest's times (tests). */
  now?: () => Date
  storeOptions?: Partial<OpenStoreOptions>
  /**
   * Inputs read after those named on the command line: the archive
   * wrapper's snapshot stage, whose output reaches this process on a pipe
   * that has no name.
   */
  moreInputs?: InputSource[]
}

/** The sysbackup-manifest stage; `hooks` exist for tests. */
export function makeManifestStage(hooks: ManifestStageHooks = {}): StageSpec {
  const now = hooks.now ?? (() => new Date())
  return {
    name: 'sysbackup-manifest',
    synopsis: '[options] [INPUT...]',
    summary: 'Reads the record streams of a run (files of records; - or none for standard input), sorts\n'
      + 'the entries by path, and stores the manifest, gzip-compressed, at manifests/HOST/TIMESTAMP.ndjson.gz\n'
      + 'under Object Lock, once every object it references is stored and retained long enough\n'
      + '(….incomplete.ndjson.gz and exit 1 when the run is incomplete).',
    options: OPTIONS,
    readsRecords: true,
    async start(ctx, args) {
      const sortMemory = args.number('sort-memory')
      if (sortMemory !== undefined && !(sortMemory > 0)) throw new UsageError(`--sort-memory: ${sortMemory} is not a positive number of MiB`)
      const config = loadConfig(args.string('config'), ctx.io.env)
      const run = runIdentity(args, config, now())
      Object.assign(ctx.headerFields, headerFieldsOf(run))
      const stdin: InputSource = ctx.inputRecords ? { name: 'stdin', records: ctx.inputRecords } : { name: 'stdin', stream: ctx.io.stdin }
      const sources = [...await openInputs(args.positionals, stdin), ...hooks.moreInputs ?? []]
      const dryRun = args.flag('dry-run')
      const storeOptions: OpenStoreOptions = { access: dryRun ? 'dry-run' : 'write', env: ctx.io.env, ...hooks.storeOptions }
      const storeDir = args.string('store')
      if (storeDir !== undefined) storeOptions.storeDir = storeDir
      if (args.has('limit-upload')) storeOptions.limitUpload = args.string('limit-upload')!
      let store
      try {
        store = await openStore(config, storeOptions)
      } catch (err) {
        for (const source of sources) if ('stream' in source) source.stream.destroy()
        throw err
      }
      const outputFile = args.string('output')
      return buildManifest(ctx, {
        run,
        store,
        dryRun,
        sources,
        ...(outputFile !== undefined && { outputFile }),
        tmpDir: args.string('tmp-dir') ?? tmpdir(),
        sortMemoryBytes: Math.round((sortMemory ?? DEFAULT_SORT_MEMORY_MIB) * 1024 * 1024),
        now,
      })
    },
  }
}

export const manifestStage: StageSpec = makeManifestStage()

/**
 * `/dev/fd/N` naming a pipe or socket we inherited, read from the
 * descriptor itself: Linux refuses to open() a socket through /dev/fd
 * (ENXIO), and Node gives child processes socket pairs, so the archive
 * wrapper's `/dev/fd/3` would fail. Null for anything else, which is opened
 * by name as usual.
 */
function inheritedDescriptor(name: string): Socket | null {
  const match = /^\/dev\/fd\/(\d+)$/.exec(name)
  if (!match) return null
  const fd = Number(match[1])
  let st
  try {
    st = fstatSync(fd)
  } catch {
    return null
  }
  if (!st.isSocket() && !st.isFIFO()) return null
  return new Socket({ fd, readable: true, writable: false })
}

/**
 * The inputs named on the command line, opened: `-` (or no name at all) is
 * standard input, named `stdin` in messages; a file is named as given. A
 * file that cannot be opened, a directory, or `-` twice is a UsageError.
 */
async function openInputs(names: string[], stdin: InputSource): Promise<InputSource[]> {
  const given = names.length === 0 ? ['-'] : names
  if (given.filter((n) => n === '-').length > 1) throw new UsageError('standard input (-) can be read only once')
  const sources: InputSource[] = []
  try {
    for (const name of given) {
      if (name === '-') {
        sources.push(stdin)
        continue
      }
      const inherited = inheritedDescriptor(name)
      if (inherited) {
        sources.push({ name, stream: inherited })
        continue
      }
      let handle
      try {
        handle = await open(name, 'r')
      } catch (err) {
        throw new UsageError(`${name}: cannot read: ${errnoText((err as NodeJS.ErrnoException).code ?? 'EIO')}`)
      }
      if ((await handle.stat()).isDirectory()) {
        await handle.close()
        throw new UsageError(`${name}: is a directory, not a file of records`)
      }
      sources.push({ name, stream: handle.createReadStream() })
    }
  } catch (err) {
    for (const source of sources) if (source !== stdin && 'stream' in source) source.stream.destroy()
    throw err
  }
  return sources
}
