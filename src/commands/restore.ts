import { resolve } from 'node:path'
import type { ParsedArgs } from '../cli/args.js'
import type { CommandSpec } from '../cli/command.js'
import { UsageError, describeError, exitStatusOf } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'
import { StageContext, type CommandIO } from '../cli/stage.js'
import { resolveHost } from '../config/host.js'
import { findManifest } from '../manifests/choose-manifest.js'
import type { ManifestDetails } from '../manifests/list-manifests.js'
import { openManifest } from '../manifests/read-manifest.js'
import { displayPath } from '../protocol/path-codec.js'
import { haveTerminal, terminalConfirm, type Confirm } from '../restore/confirm.js'
import type { OwnerIdSources } from '../restore/owner-ids.js'
import { humanBytes, RestoreProgress } from '../restore/progress.js'
import { restoreManifest } from '../restore/restore-manifest.js'
import {
  CHOICE_OPTIONS, checkRestoreOptions, choiceFromArgs, filterFromArgs, jobsFromArgs, RESTORE_OPTIONS, targetFromArgs,
} from '../restore/restore-options.js'
import { openRestoreStore, STORE_ACCESS_OPTIONS, type RestoreStoreDeps } from '../restore/restore-store.js'
import { RESTORE_HEAP_GROWING_PERCENT, setHeapGrowingPercent } from '../cli/heap-growth.js'

/** Test seams; the registered command uses the defaults. */
export interface RestoreCommandDeps extends RestoreStoreDeps {
  /** Asks yes/no questions (default: on the controlling terminal, when there is one). */
  confirm?: Confirm | null
  ownerSources?: Omit<OwnerIdSources, 'env'>
  /** Host name of this machine, for the default choice (default: [archive] host, else the system's). */
  host?: string
}

const NAME = 's3-sysbackup restore'

export function makeRestoreCommand(deps: RestoreCommandDeps = {}): CommandSpec {
  return {
    name: NAME,
    synopsis: '[--host NAME] [--at TIME | --key KEY] [--target DIR] [--include PATTERN] [--exclude PATTERN] [options]',
    summary: 'Chooses a backup (by default this host\'s newest complete one), shows what will be\n'
      + 'restored and where, asks for confirmation, and restores it, showing progress.\n'
      + 'For a record per entry, use sysbackup-restore.',
    options: [...CHOICE_OPTIONS, ...RESTORE_OPTIONS, ...STORE_ACCESS_OPTIONS],
    manPage: 's3-sysbackup-restore(1)',
    main: (args, io) => runRestore(args, io, deps),
  }
}

export const restoreSubcommand = makeRestoreCommand()

async function runRestore(args: ParsedArgs, io: CommandIO, deps: RestoreCommandDeps): Promise<number> {
  setHeapGrowingPercent(RESTORE_HEAP_GROWING_PERCENT)
  checkRestoreOptions(args)
  const choice = choiceFromArgs(args) ?? {}
  const jobs = jobsFromArgs(args)
  const filter = filterFromArgs(args)
  const { target, isRoot } = targetFromArgs(args)
  const dryRun = args.flag('dry-run')
  const yes = args.flag('yes')
  const confirm = deps.confirm !== undefined ? deps.confirm : haveTerminal() ? terminalConfirm('give --yes') : null
  if (!dryRun && !yes && confirm === null) throw new UsageError('there is no terminal to confirm on: give --yes (or --dry-run to look first)')

  const access = await openRestoreStore(args, io, deps)
  const chosen = await findManifest(access.store, choice, deps.host ?? resolveHost(undefined, access.config))
  io.stderr.write(plan(chosen, target, isRoot, args))
  if (!dryRun && !yes && !await confirm!(`Restore this backup into ${target}?`)) {
    io.stderr.write(`${NAME}: not confirmed: nothing was restored\n`)
    return EXIT.USAGE
  }

  const input = await openManifest(access.store, chosen.key, chosen.versionId)
  const total = filter.selectsAll ? chosen.entries : undefined
  const progress = new RestoreProgress(io.stderr, total)
  const controller = new AbortController()
  const ctx = new StageContext(NAME, { ...io, stderr: progress.stderr }, controller)
  let interrupted: string | undefined
  const stop = (signal: string) => () => { interrupted = signal; controller.abort(new Error(`interrupted by ${signal}`)) }
  const onInt = stop('SIGINT')
  const onTerm = stop('SIGTERM')
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  const started = Date.now()
  try {
    const records = restoreManifest({
      ctx, input, target, filter, jobs, dryRun,
      overwrite: args.flag('overwrite'),
      sparse: args.flag('sparse'),
      numericOwner: args.flag('numeric-owner'),
      store: access.store,
      snapshots: args.flag('no-snapshots') ? null : {
        ...(args.string('snapshot-dir') !== undefined && { dir: resolve(args.string('snapshot-dir')!) }),
        run: yes ? 'yes' : confirm !== null ? 'ask' : 'no',
        ...(confirm !== null && { confirm }),
      },
      childEnv: await access.childEnv(),
      ...(deps.ownerSources !== undefined && { ownerSources: deps.ownerSources }),
    })
    for await (const rec of records) {
      progress.note(rec)
      if (dryRun && rec.type === 'restore') io.stdout.write(planLine(rec))
    }
  } catch (err) {
    progress.finish()
    io.stderr.write(`${NAME}: ${describeError(err, io.env)}\n`)
    return exitStatusOf(err)
  } finally {
    process.off('SIGINT', onInt)
    process.off('SIGTERM', onTerm)
    progress.finish()
  }
  io.stdout.write(summary(ctx.counts, chosen.key, target, dryRun, (Date.now() - started) / 1000))
  if (interrupted !== undefined) {
    io.stderr.write(`${NAME}: interrupted by ${interrupted}; run the same command again to finish (files already restored are skipped)\n`)
    return EXIT.INTERRUPTED
  }
  const incomplete = (ctx.counts.errors ?? 0) > 0 || ctx.incomplete !== undefined
  if (incomplete) io.stderr.write(`${NAME}: the restore is incomplete: ${ctx.incomplete ?? `${ctx.counts.errors} error(s)`} (see the messages above)\n`)
  return incomplete ? EXIT.INCOMPLETE : EXIT.OK
}

/** What is about to happen, for the person to confirm. */
function plan(m: ManifestDetails, target: string, isRoot: boolean, args: ParsedArgs): string {
  const lines = [
    `Backup:    ${m.key}`,
    `           host ${m.host}, ${m.runTime.toISOString()}, ${m.complete ? 'complete' : 'INCOMPLETE'}` +
      `${m.entries !== undefined ? `, ${m.entries} entries` : ''}${m.bytes !== undefined ? `, ${humanBytes(m.bytes)} in ${m.files ?? '?'} files` : ''}`,
    `Target:    ${target}${isRoot ? '   (this machine\'s root: files here are replaced only when they differ and --overwrite is given)' : ''}`,
  ]
  const includes = args.list('include')
  const excludes = args.list('exclude')
  if (includes.length > 0 || excludes.length > 0) {
    lines.push(`Only:      ${[...includes.map((p) => `+${p}`), ...excludes.map((p) => `-${p}`)].join(' ')}`)
  }
  lines.push(`Existing:  identical files are skipped; different ones are ${args.flag('overwrite') ? 'replaced (--overwrite)' : 'kept (--overwrite replaces them)'}`)
  lines.push(args.flag('no-snapshots')
    ? 'Snapshots: not restored (--no-snapshots)'
    : `Snapshots: downloaded to ${args.string('snapshot-dir') ?? `${target === '/' ? '' : target}/var/backups/s3-sysbackup/${m.host}-${m.stamp}`}; ` +
      `restore-through commands ${args.flag('yes') ? 'run (--yes)' : 'asked about one by one'}`)
  if (args.flag('dry-run')) lines.push('Dry run:   nothing will be written')
  return lines.join('\n') + '\n'
}

/** One line of a dry run's plan. */
function planLine(rec: { [k: string]: unknown }): string {
  const to = typeof rec.to === 'string' ? rec.to : typeof rec.toB64 === 'string' ? displayPath(Buffer.from(rec.toB64, 'base64')) : String(rec.name ?? '')
  return `${String(rec.action).padEnd(11)} ${String(rec.entry).padEnd(8)} ${displayPath(to)}${typeof rec.existing === 'string' ? `  (replaces a ${rec.existing})` : ''}\n`
}

/** The closing summary. */
function summary(c: Record<string, number>, key: string, target: string, dryRun: boolean, seconds: number): string {
  const n = (name: string) => c[name] ?? 0
  if (dryRun) return `Dry run of ${key} into ${target}: ${n('wouldWrite')} entries would be written, ${n('failed')} refused.\n`
  const parts = [
    `${n('written')} written`, `${n('replaced')} replaced`, `${n('linked')} hard links`, `${n('symlinked')} symlinks`,
    `${n('dirsSet')} directories`, `${n('skipped')} skipped (already there)`, `${n('kept')} kept (different)`, `${n('failed')} failed`,
  ]
  return `Restored ${key} into ${target}:\n  ${parts.join(', ')}\n` +
    `  ${humanBytes(n('bytesWritten'))} written, ${humanBytes(n('bytesDownloaded'))} downloaded, in ${seconds.toFixed(1)} s` +
    `${n('snapshots') > 0 ? `; ${n('snapshots')} snapshot(s), ${n('restoreThroughRun')} restore-through command(s) run` : ''}\n`
}
