import { join } from 'node:path'
import type { ParsedArgs } from '../cli/args.js'
import type { CommandSpec } from '../cli/command.js'
import { UsageError } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'
import type { CommandIO } from '../cli/stage.js'
import { resolveHost } from '../config/host.js'
import { loadConfig } from '../config/load-config.js'
import { DEFAULT_CONFIG_DIR, SCHEMA } from '../config/schema.js'
import { listPickers } from '../stages/pick/pickers-dir.js'
import { listPrograms } from '../util/programs-dir.js'
import { localStoreDir, STORE_OPTION } from '../store/open-store.js'
import { describeLimit, LIMIT_UPLOAD_OPTION, uploadLimitOf } from '../store/upload-limit.js'
import { gzipLevelOf, GZIP_LEVEL_OPTION } from '../stages/upload/gzip-level.js'
import { checkStoreStillThere, rememberStore } from '../archive/known-stores.js'
import { progressReporter } from '../archive/progress.js'
import { takeRunLock } from '../archive/run-lock.js'
import { useBatchScheduling } from '../archive/cpu-scheduling.js'
import { runArchiveInProcess } from '../archive/in-process-pipeline.js'
import { runArchivePipeline } from '../archive/stage-pipeline.js'
import { formatSummary, summarize } from '../archive/summary.js'
import { keyTimestamp } from '../stages/run-identity.js'
import { hashStage } from '../stages/hash/hash-stage.js'
import { makeManifestStage } from '../stages/manifest/manifest-stage.js'
import { pickStage } from '../stages/pick/pick-stage.js'
import { snapStage } from '../stages/snap/snap-stage.js'
import { DEFAULT_JOBS as UPLOAD_JOBS, uploadJobsFromArgs, uploadStage } from '../stages/upload/upload-stage.js'

const DAY_MS = 86_400_000

/**
 * `s3-sysbackup archive`: one backup run. Chains the stages (pick → hash →
 * upload, and snap, into manifest) under the machine's run lock, and ends
 * with a summary. The stages run inside this process, except snap (see
 * runArchiveInProcess); `--stage-processes` runs each as its own process
 * over pipes. See s3-sysbackup-archive(1).
 */
export const archiveCommand: CommandSpec = {
  name: 's3-sysbackup archive',
  synopsis: '[--config DIR] [--store DIR] [--new-store] [--dry-run] [--json] [options]',
  summary: 'Backs this machine up: runs the pickers and snapshotters of the configuration,\n'
    + 'stores new content once, extends the retention of content still in use, and\n'
    + 'stores the run\'s manifest, everything under Object Lock. Exit status 0 when the\n'
    + 'run is complete, 1 when incomplete, 3 when it failed.',
  manPage: 's3-sysbackup-archive(1)',
  options: [
    { name: 'config', type: 'string', arg: 'DIR', help: 'configuration directory (default /etc/backup, or $S3_SYSBACKUP_CONFIG)' },
    STORE_OPTION,
    { name: 'state-dir', type: 'string', arg: 'DIR', help: 'state directory for caches and the run lock (default: [state] dir)' },
    { name: 'host', type: 'string', arg: 'NAME', help: 'store this run under host NAME (default: [archive] host, else the host name)' },
    { name: 'wait', type: 'number', arg: 'SECONDS', help: 'wait this long for another run of this machine to finish (default: [archive] lock_wait)' },
    { name: 'jobs', alias: 'j', type: 'number', arg: 'N', help: `uploads and HEAD requests at once (default ${UPLOAD_JOBS})` },
    { ...LIMIT_UPLOAD_OPTION, help: 'send at most RATE bytes a second to the store, e.g. 512K, 4M (binary units; 0: no limit; default: [s3] limit_upload); snapshots streamed by their own process have a limit of their own' },
    GZIP_LEVEL_OPTION,
    { name: 'cpu-scheduling', type: 'string', arg: 'POLICY', help: 'batch or normal: the CPU scheduling policy of the run and what it starts (default: [archive] cpu_scheduling, batch)' },
    { name: 'new-store', type: 'flag', help: 'start a new local store even where this machine backed up into one that is no longer there (a new disk of a rotation)' },
    { name: 'dry-run', type: 'flag', help: 'store nothing: say what would be stored and what it would cost' },
    { name: 'json', type: 'flag', help: 'print the summary as one JSON object' },
    { name: 'progress', type: 'flag', help: 'show a progress line even when standard error is not a terminal' },
    { name: 'no-progress', type: 'flag', help: 'never show a progress line' },
    { name: 'stage-processes', type: 'flag', help: 'run every stage as its own process over pipes, as a hand-made pipeline does (default: pick, hash, upload and manifest run inside this process)' },
  ],
  main: archive,
}

async function archive(args: ParsedArgs, io: CommandIO): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`)
  const wait = args.number('wait')
  if (wait !== undefined && wait < 0) throw new UsageError(`--wait: ${wait} is negative`)
  const jobs = uploadJobsFromArgs(args)
  const scheduling = args.choice('cpu-scheduling', SCHEMA.archive.cpu_scheduling.values)
  const config = loadConfig(args.string('config'), io.env)
  const host = resolveHost(args.string('host'), config)
  // Checked before anything runs: each writing stage would refuse it, but only after pick and hash had begun.
  const uploadLimit = uploadLimitOf(args.string('limit-upload'), config.values.s3.limit_upload, config.file ?? 'configuration')
  const gzipLevel = gzipLevelOf(args.number('gzip-level'))
  const stateDir = args.string('state-dir') ?? config.values.state.dir
  // A mistake in pickers.d or snapshots.d is a configuration error (exit 2,
  // nothing done), as it is for the stages; found here, before any stage runs.
  const configDir = config.dir ?? DEFAULT_CONFIG_DIR
  listPickers(configDir)
  const snapshotters = listPrograms(join(configDir, 'snapshots.d'), 'snapshotter') ?? []
  const dryRun = args.flag('dry-run')
  if ((scheduling ?? config.values.archive.cpu_scheduling) === 'batch') {
    const why = await useBatchScheduling()
    if (why !== undefined) io.stderr.write(`s3-sysbackup archive: warning: CPU scheduling stays normal: ${why}\n`)
  }
  const localDir = localStoreDir(config, { ...(args.has('store') && { storeDir: args.string('store')! }) })
  const controller = new AbortController()
  const release = await takeRunLock(stateDir, wait ?? config.values.archive.lock_wait, controller.signal)
  // The run's time is when it got the lock: a run that waited for another
  // must not take that run's time (nor, within the same second, its keys).
  const started = new Date()
  const retainUntil = new Date(started.getTime() + config.values.content.days_retained * DAY_MS)
  let interrupted: NodeJS.Signals | undefined
  const onSignal = (signal: NodeJS.Signals) => {
    interrupted = signal
    controller.abort(signal)
  }
  process.on('SIGINT', onSignal)
  process.on('SIGTERM', onSignal)
  try {
    // Under the run lock: no other run of this machine makes or writes a store meanwhile.
    if (localDir !== undefined && !args.flag('new-store')) checkStoreStillThere(stateDir, localDir)
    // The stages read the same configuration directory the wrapper resolved.
    const common = config.dir ? ['--config', config.dir] : []
    const storeArgs = args.has('store') ? ['--store', args.string('store')!] : []
    const limitArgs = args.has('limit-upload') ? ['--limit-upload', args.string('limit-upload')!] : []
    const stateArgs = ['--state-dir', stateDir]
    const runArgs = ['--host', host, '--run-time', started.toISOString(), '--retain-until', retainUntil.toISOString()]
    const dry = dryRun ? ['--dry-run'] : []
    const progress = progressReporter(io.stderr, {
      enabled: args.flag('progress') || (!args.flag('no-progress') && io.stderr.isTTY === true),
    })
    const limited = uploadLimit > 0 && !dryRun ? `, ${describeLimit(uploadLimit)}` : ''
    io.stderr.write(`s3-sysbackup archive: ${dryRun ? 'dry run' : 'run'} ${keyTimestamp(started)} of ${host}, retained until ${retainUntil.toISOString()}${limited}\n`)
    const stageArgs = {
      pick: [...common],
      hash: [...common, ...stateArgs, '--from-manifest', '--host', host, ...storeArgs],
      upload: [
        ...common, ...storeArgs, ...limitArgs, ...stateArgs, ...runArgs, ...dry,
        ...(jobs !== undefined ? ['--jobs', String(jobs)] : []),
        ...(gzipLevel !== undefined ? ['--gzip-level', String(gzipLevel)] : []),
      ],
      snap: [...common, ...storeArgs, ...limitArgs, ...runArgs, ...dry],
      manifest: [...common, ...storeArgs, ...limitArgs, ...runArgs, ...dry, '-'],
    }
    const shared = {
      env: io.env,
      stderr: io.stderr === process.stderr ? 'inherit' as const : io.stderr,
      signal: controller.signal,
      onRecords: (count: number) => progress.update(count),
    }
    const result = args.flag('stage-processes')
      ? await runArchivePipeline({
        chain: [
          { name: 'sysbackup-pick', args: stageArgs.pick },
          { name: 'sysbackup-hash', args: stageArgs.hash },
          { name: 'sysbackup-upload', args: stageArgs.upload },
        ],
        side: { name: 'sysbackup-snap', args: stageArgs.snap },
        sink: { name: 'sysbackup-manifest', args: [...stageArgs.manifest, '/dev/fd/3'] },
        ...shared,
      })
      : await runArchiveInProcess({
        chain: [
          { spec: pickStage, args: stageArgs.pick },
          { spec: hashStage, args: stageArgs.hash },
          { spec: uploadStage, args: stageArgs.upload },
        ],
        // With no snapshotters the snap stage only writes its header and
        // trailer: a process for that cost 0.2 s of CPU at start-up.
        side: snapshotters.length > 0 ? { name: 'sysbackup-snap', args: stageArgs.snap } : { spec: snapStage, args: stageArgs.snap },
        sink: { spec: (moreInputs) => makeManifestStage({ moreInputs }), args: stageArgs.manifest },
        ...shared,
      })
    progress.done()
    if (localDir !== undefined && !dryRun) {
      const problem = await rememberStore(stateDir, localDir)
      if (problem !== undefined) io.stderr.write(`s3-sysbackup archive: warning: ${problem}\n`)
    }
    const summary = summarize({
      exits: result.exits,
      sinkRecords: result.sinkRecords,
      host,
      runTime: started.toISOString(),
      dryRun,
      elapsedSeconds: (Date.now() - started.getTime()) / 1000,
    })
    if (interrupted) summary.reasons.unshift(`interrupted by ${interrupted}`)
    io.stdout.write(args.flag('json') ? JSON.stringify(summary) + '\n' : formatSummary(summary))
    if (interrupted && summary.outcome !== 'complete') return EXIT.INTERRUPTED
    return summary.exitStatus
  } finally {
    process.off('SIGINT', onSignal)
    process.off('SIGTERM', onSignal)
    release()
  }
}
