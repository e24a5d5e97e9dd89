/**
 * The identity of one backup run, shared by every stage that writes to the
 * store: the host, the run time T0 and the retain-until date R (see
 * LAYOUT-CONTRACT in the design notes, and s3-sysbackup(1)). The archive
 * wrapper chooses T0 once and passes the same `--run-time` (and
 * `--retain-until`) to upload, snap and manifest, so their keys and
 * retention agree.
 */
import type { OptionSpec, ParsedArgs } from '../cli/args.js'
import { UsageError } from '../cli/errors.js'
import { resolveHost } from '../config/host.js'
import type { LoadedConfig } from '../config/load-config.js'
import type { LockMode } from '../store/store.js'

export const DAY_MS = 86_400_000

/** `days` days after `date`. */
export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS)
}

/** The options every store-writing stage takes, one wording everywhere. */
export const RUN_OPTIONS: OptionSpec[] = [
  { name: 'host', type: 'string', arg: 'NAME', help: 'host name in object keys (default: [archive] host, else this machine\'s name)' },
  { name: 'run-time', type: 'string', arg: 'ISO', help: 'the run\'s time T0: ISO-8601 with a zone, or YYYYMMDDTHHMMSSZ (default: now)' },
  { name: 'retain-until', type: 'string', arg: 'ISO', help: 'retain-until date R (default: T0 + [content] days_retained days)' },
]

export interface RunIdentity {
  host: string
  runTime: Date
  /** T0 as it appears in keys: `YYYYMMDDTHHMMSSZ`. */
  stamp: string
  /** R: every object the run's manifest references is retained at least until then. */
  retainUntil: Date
  lockMode: LockMode
  daysRetained: number
}

/**
 * The run's identity from `--host` (else `[archive] host`, else the host
 * name), `--run-time` and `--retain-until`, with defaults from the
 * configuration and `now`. Throws UsageError for a bad host name, a time
 * that is not ISO-8601 with a zone, or an R not after both T0 and now (a
 * retention already past would lock nothing).
 */
export function runIdentity(args: ParsedArgs, config: LoadedConfig, now: Date): RunIdentity {
  const host = resolveHost(args.string('host'), config)
  const given = args.string('run-time')
  const runTime = given === undefined ? now : parseTime(given, '--run-time')
  const daysRetained = config.values.content.days_retained
  const until = args.string('retain-until')
  const retainUntil = until === undefined ? addDays(runTime, daysRetained) : parseTime(until, '--retain-until')
  if (retainUntil.getTime() <= Math.max(runTime.getTime(), now.getTime())) {
    throw new UsageError(`--retain-until: ${retainUntil.toISOString()} is not after the run time ${runTime.toISOString()} and now`)
  }
  return { host, runTime, stamp: keyTimestamp(runTime), retainUntil, lockMode: config.values.content.lock_mode as LockMode, daysRetained }
}

/** The fields a stage adds to its header record: host, runTime, retainUntil. */
export function headerFieldsOf(run: Pick<RunIdentity, 'host' | 'runTime' | 'retainUntil'>): Record<string, string> {
  return { host: run.host, runTime: run.runTime.toISOString(), retainUntil: run.retainUntil.toISOString() }
}

/** `YYYYMMDDTHHMMSSZ`, the UTC form of a time in object keys. */
export function keyTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')
}

const KEY_FORM = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/
const ISO_WITH_ZONE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})$/

/**
 * A time given on the command line: ISO-8601 with a zone
 * (`2026-11-26T08:00:00Z`, `…+01:00`) or the key form `20261126T080000Z`.
 * A time without a zone is refused: it would mean something else on every
 * machine.
 */
export function parseTime(text: string, option: string): Date {
  const key = KEY_FORM.exec(text)
  const iso = key ? `${key[1]}-${key[2]}-${key[3]}T${key[4]}:${key[5]}:${key[6]}Z` : text
  const date = new Date(iso)
  if ((key === null && !ISO_WITH_ZONE.test(text)) || Number.isNaN(date.getTime())) {
    throw new UsageError(`${option}: "${text}" is not an ISO-8601 time with a zone (e.g. 2026-11-26T08:00:00Z or 20261126T080000Z)`)
  }
  return date
}
