import { resolve } from 'node:path'
import type { ParsedArgs } from '../cli/args.js'
import { UsageError } from '../cli/errors.js'
import type { StageContext, StageSpec } from '../cli/stage.js'
import { scrubbedEnvironment } from '../creds/child-environment.js'
import { resolveHost } from '../config/host.js'
import { findManifest } from '../manifests/choose-manifest.js'
import { openManifest, ManifestReader } from '../manifests/read-manifest.js'
import type { Rec } from '../protocol/records.js'
import { terminalConfirm, haveTerminal, type Confirm } from './confirm.js'
import type { OwnerIdSources } from './owner-ids.js'
import { restoreManifest, type SnapshotPlan } from './restore-manifest.js'
import {
  CHOICE_OPTIONS, checkRestoreOptions, choiceFromArgs, filterFromArgs, jobsFromArgs, RESTORE_OPTIONS, targetFromArgs,
} from './restore-options.js'
import { openRestoreStore, STORE_ACCESS_OPTIONS, type RestoreStore, type RestoreStoreDeps } from './restore-store.js'
import { RESTORE_HEAP_GROWING_PERCENT, setHeapGrowingPercent } from '../cli/heap-growth.js'

/** Test seams of the stage; the registered stage uses the defaults. */
export interface RestoreStageDeps extends RestoreStoreDeps {
  /** Asks yes/no questions (default: on the controlling terminal, when there is one). */
  confirm?: Confirm | null
  /** Where owner names are looked up (default /etc/passwd and /etc/group). */
  ownerSources?: Omit<OwnerIdSources, 'env'>
}

export function makeRestoreStage(deps: RestoreStageDeps = {}): StageSpec {
  return {
    name: 'sysbackup-restore',
    synopsis: '[--key KEY | --host NAME --at TIME | < manifest.ndjson] [--target DIR] [options]',
    summary: 'Restores the entries and snapshots of a manifest into DIR, and writes a record per entry\n'
      + '(written, skipped, failed...). The manifest is read from the store (--key, --host, --at)\n'
      + 'or from standard input, gzip or not, so it can be filtered with jq first.',
    options: [...CHOICE_OPTIONS, ...RESTORE_OPTIONS, ...STORE_ACCESS_OPTIONS],
    // A sink, not a filter: SIGINT stops it, like any command (there is nothing downstream to drain to).
    readsRecords: false,
    start: (ctx, args) => start(ctx, args, deps),
  }
}

export const restoreStage: StageSpec = makeRestoreStage()

async function start(ctx: StageContext, args: ParsedArgs, deps: RestoreStageDeps): Promise<AsyncIterable<Rec>> {
  setHeapGrowingPercent(RESTORE_HEAP_GROWING_PERCENT)
  checkRestoreOptions(args)
  const choice = choiceFromArgs(args)
  const jobs = jobsFromArgs(args)
  const filter = filterFromArgs(args)
  const { target, isRoot } = targetFromArgs(args)
  const dryRun = args.flag('dry-run')
  const yes = args.flag('yes')
  if (choice === null && ctx.io.stdin.isTTY) {
    throw new UsageError('no manifest: give --key, --host or --at, or pipe one on standard input (zcat m.ndjson.gz | sysbackup-restore ...)')
  }
  const confirm = deps.confirm !== undefined ? deps.confirm : haveTerminal() ? terminalConfirm('give --yes') : null

  // Nothing is asked or opened before the options are known to be good.
  if (isRoot && !dryRun && !yes) {
    if (confirm === null) throw new UsageError('restoring into / needs --yes (there is no terminal to confirm on)')
    if (!await confirm(`Restore into / on this machine${args.flag('overwrite') ? ', replacing files that differ' : ''}?`)) {
      throw new UsageError('not confirmed: nothing was restored')
    }
  }

  let access: RestoreStore | undefined
  if (!dryRun || choice !== null) access = await openRestoreStore(args, ctx.io, deps)
  let input: ManifestReader
  if (choice !== null) {
    const chosen = await findManifest(access!.store, choice, resolveHost(undefined, access!.config))
    input = await openManifest(access!.store, chosen.key, chosen.versionId)
    ctx.headerFields.manifest = chosen.key
  } else {
    input = new ManifestReader(ctx.io.stdin, { source: 'stdin', checkDigest: false })
  }
  ctx.headerFields.target = target
  if (dryRun) ctx.headerFields.dryRun = true

  const snapshots: SnapshotPlan | null = args.flag('no-snapshots') ? null : {
    ...(args.string('snapshot-dir') !== undefined && { dir: resolve(args.string('snapshot-dir')!) }),
    run: yes ? 'yes' : confirm !== null ? 'ask' : 'no',
    ...(confirm !== null && { confirm }),
  }
  const childEnv = access !== undefined ? await access.childEnv() : scrubbedEnvironment(ctx.io.env)
  return restoreManifest({
    ctx, input, target, filter, jobs, dryRun, snapshots, childEnv,
    overwrite: args.flag('overwrite'),
    sparse: args.flag('sparse'),
    numericOwner: args.flag('numeric-owner'),
    store: access?.store ?? null,
    ...(deps.ownerSources !== undefined && { ownerSources: deps.ownerSources }),
  })
}
