import { realpathSync, statSync } from 'node:fs'
import { resolve } from 'node:path'
import type { OptionSpec, ParsedArgs } from '../cli/args.js'
import { UsageError } from '../cli/errors.js'
import { parseTimeOption } from '../manifests/parse-time.js'
import type { ManifestChoice } from '../manifests/choose-manifest.js'
import { PathFilter } from './glob-filter.js'

/**
 * Downloads and writes at once by default: enough to hide S3's round trip
 * (a small file's GetObject is mostly waiting), few enough for a small
 * machine: each holds at most a 1 MiB body whole (WHOLE_BODY_BYTES) or a
 * stream's buffers. Measured with bench/latency.ts (a proxy holds each
 * request for the round trip), 2,704 files: 55.2 s with 8 against 23.8 s
 * with 32 at 150 ms (moto's own rate then the bound), 28.0 against 23.5 s
 * at 50 ms, the same with none; a local store's restore is no faster or
 * slower with 32 (3 pairs) and holds 0-15 MB more.
 */
export const DEFAULT_JOBS = 32
const MAX_JOBS = 64

/** Options that choose a backup in the store (list and restore). */
export const CHOICE_OPTIONS: OptionSpec[] = [
  { name: 'host', type: 'string', arg: 'NAME', help: 'the backups of host NAME (default: this machine\'s host name)' },
  { name: 'at', type: 'string', arg: 'TIME', help: 'the newest complete backup at or before TIME (2026-11-26 for the end of that day, 2026-11-26T08:00Z, 20261126T080000Z)' },
  { name: 'key', type: 'string', arg: 'KEY', help: 'exactly the manifest KEY (manifests/HOST/STAMP[.incomplete].ndjson.gz), complete or not' },
]

/** Options of what and how to restore (sysbackup-restore and s3-sysbackup restore). */
export const RESTORE_OPTIONS: OptionSpec[] = [
  { name: 'target', alias: 't', type: 'string', arg: 'DIR', help: 'restore into DIR (default /, which needs --yes or a confirmation on the terminal)' },
  { name: 'include', alias: 'i', type: 'list', arg: 'PATTERN', help: 'restore only entries matching the glob PATTERN (and what is beneath them)' },
  { name: 'exclude', alias: 'x', type: 'list', arg: 'PATTERN', help: 'leave out entries matching the glob PATTERN (and what is beneath them)' },
  { name: 'overwrite', type: 'flag', help: 'replace existing entries that differ (identical ones are always skipped)' },
  { name: 'sparse', type: 'flag', help: 'leave blocks of zeros in restored files as holes, taking no disk space (not for swap files)' },
  { name: 'numeric-owner', type: 'flag', help: 'restore owners and groups by their numeric ids, ignoring names' },
  { name: 'dry-run', alias: 'n', type: 'flag', help: 'write nothing: list what would be written, and where' },
  { name: 'yes', alias: 'y', type: 'flag', help: 'do not ask: restore into / and run snapshots\' restore-through commands' },
  { name: 'jobs', alias: 'j', type: 'number', arg: 'N', help: `downloads at once (default ${DEFAULT_JOBS})` },
  { name: 'snapshot-dir', type: 'string', arg: 'DIR', help: 'download snapshots into DIR (default: var/backups/s3-sysbackup/HOST-STAMP under the target)' },
  { name: 'no-snapshots', type: 'flag', help: 'do not restore snapshots' },
]

/** The backup the options choose, or null when none of --key, --host, --at is given. */
export function choiceFromArgs(args: ParsedArgs): ManifestChoice | null {
  const key = args.string('key')
  const host = args.string('host')
  const at = args.string('at')
  if (key !== undefined && (host !== undefined || at !== undefined)) throw new UsageError('--key names one manifest exactly: give it without --host and --at')
  if (key === undefined && host === undefined && at === undefined) return null
  return {
    ...(key !== undefined && { key }),
    ...(host !== undefined && { host }),
    ...(at !== undefined && { at: parseTimeOption(at) }),
  }
}

/** --jobs, checked. */
export function jobsFromArgs(args: ParsedArgs): number {
  const jobs = args.number('jobs') ?? DEFAULT_JOBS
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > MAX_JOBS) throw new UsageError(`option --jobs: ${jobs} is not a whole number from 1 to ${MAX_JOBS}`)
  return jobs
}

/** The --include/--exclude filter. */
export function filterFromArgs(args: ParsedArgs): PathFilter {
  return new PathFilter(args.list('include'), args.list('exclude'))
}

/**
 * The target directory, absolute; `isRoot` when it is the root of this
 * machine (symlinks resolved). A target that exists and is not a directory
 * is a UsageError; one that does not exist is created by the restore.
 */
export function targetFromArgs(args: ParsedArgs, cwd: string = process.cwd()): { target: string, isRoot: boolean } {
  const given = args.string('target') ?? '/'
  const target = resolve(cwd, given)
  const st = statSync(target, { throwIfNoEntry: false })
  if (st === undefined) return { target, isRoot: false }
  if (!st.isDirectory()) throw new UsageError(`--target ${given}: not a directory`)
  return { target, isRoot: realpathSync(target) === '/' }
}

/** Options that do not go together. */
export function checkRestoreOptions(args: ParsedArgs): void {
  if (args.flag('no-snapshots') && args.has('snapshot-dir')) throw new UsageError('--snapshot-dir and --no-snapshots do not go together')
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}" (the manifest comes from --key/--host/--at or standard input)`)
}
