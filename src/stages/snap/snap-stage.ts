import { join } from 'node:path'
import type { OptionSpec } from '../../cli/args.js'
import { UsageError } from '../../cli/errors.js'
import type { StageSpec } from '../../cli/stage.js'
import { loadConfig } from '../../config/load-config.js'
import { DEFAULT_CONFIG_DIR } from '../../config/schema.js'
import { scrubbedEnvironment } from '../../creds/child-environment.js'
import { LIMIT_UPLOAD_OPTION } from '../../store/upload-limit.js'
import { openStore, STORE_OPTION, type OpenStoreOptions } from '../../store/open-store.js'
import { DEFAULT_PART_SIZE } from '../../store/parts.js'
import { listPrograms, type Program } from '../../util/programs-dir.js'
import { headerFieldsOf, RUN_OPTIONS, runIdentity } from '../run-identity.js'
import { plannedSnapshots, snap } from './snap.js'

const OPTIONS: OptionSpec[] = [
  { name: 'config', alias: 'c', type: 'string', arg: 'DIR', help: 'configuration directory (default $S3_SYSBACKUP_CONFIG or /etc/backup)' },
  STORE_OPTION,
  LIMIT_UPLOAD_OPTION,
  ...RUN_OPTIONS,
  { name: 'timeout', type: 'number', arg: 'SECONDS', help: 'how long each snapshotter may keep us waiting before it is killed; 0: no limit (default: [snapshots] timeout)' },
  { name: 'only', type: 'list', arg: 'NAME', help: 'run only the snapshotter NAME' },
  { name: 'dry-run', type: 'flag', help: 'run nothing and store nothing: list the snapshotters that would run and their keys' },
]

export interface SnapStageHooks {
  /** The clock that gives the default run time (tests). */
  now?: () => Date
  /** Store settings (a small part size, for tests of big snapshots). */
  storeOptions?: Partial<OpenStoreOptions>
}

/** The sysbackup-snap stage; `hooks` exist for tests. */
export function makeSnapStage(hooks: SnapStageHooks = {}): StageSpec {
  return {
    name: 'sysbackup-snap',
    synopsis: '[--config DIR] [--only NAME]... [--timeout SECONDS] [--dry-run] > snapshots.ndjson',
    summary: 'Runs each program in DIR/snapshots.d with the number of a file descriptor to write its\n'
      + 'snapshot to, streams the snapshot into snapshots/HOST/TIMESTAMP-NAME under Object Lock, and\n'
      + 'writes a snapshot record with the description and restore command it printed.',
    options: OPTIONS,
    readsRecords: false,
    async start(ctx, args) {
      const extra = args.positionals[0]
      if (extra !== undefined) throw new UsageError(`unexpected argument "${extra}" (the snapshotters are the programs in snapshots.d)`)
      const timeout = args.number('timeout')
      if (timeout !== undefined && timeout < 0) throw new UsageError(`--timeout: ${timeout} is negative (seconds, 0 for no limit)`)
      const config = loadConfig(args.string('config'), ctx.io.env)
      const run = runIdentity(args, config, (hooks.now ?? (() => new Date()))())
      Object.assign(ctx.headerFields, headerFieldsOf(run))
      const dir = join(config.dir ?? DEFAULT_CONFIG_DIR, 'snapshots.d')
      const programs = selected(listPrograms(dir, 'snapshotter') ?? [], args.list('only'), dir)
      const keyPrefix = `snapshots/${run.host}/${run.stamp}-`
      // With nothing to run, the store is not even opened (no request, no credentials needed).
      if (args.flag('dry-run') || programs.length === 0) return plannedSnapshots(ctx, programs, keyPrefix)
      const storeOptions: OpenStoreOptions = { access: 'write', env: ctx.io.env, ...hooks.storeOptions }
      const storeDir = args.string('store')
      if (storeDir !== undefined) storeOptions.storeDir = storeDir
      if (args.has('limit-upload')) storeOptions.limitUpload = args.string('limit-upload')!
      const store = await openStore(config, storeOptions)
      return snap(ctx, programs, {
        store,
        keyPrefix,
        lockMode: run.lockMode,
        retainUntil: run.retainUntil,
        timeoutSeconds: timeout ?? config.values.snapshots.timeout,
        holdBytes: storeOptions.partSize ?? DEFAULT_PART_SIZE,
        // Snapshotters are other people's programs: they get no AWS credentials of ours.
        env: scrubbedEnvironment(ctx.io.env),
        stderr: ctx.io.stderr,
      })
    },
  }
}

export const snapStage: StageSpec = makeSnapStage()

/** The snapshotters `--only` names (all when it is not given); a name that is not there is a UsageError. */
function selected(programs: Program[], only: string[], dir: string): Program[] {
  if (only.length === 0) return programs
  for (const name of only) {
    if (!programs.some((p) => p.name === name)) {
      const there = programs.length === 0 ? 'there are none' : `there are: ${programs.map((p) => p.name).join(', ')}`
      throw new UsageError(`--only: no snapshotter "${name}" in ${dir} (${there})`)
    }
  }
  return programs.filter((p) => only.includes(p.name))
}
