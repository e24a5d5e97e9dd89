import type { ParsedArgs } from '../cli/args.js'
import type { CommandSpec } from '../cli/command.js'
import { UsageError } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'
import type { CommandIO } from '../cli/stage.js'
import { checkHostOption } from '../config/host.js'
import { ALL_DATA, parseDataSample, type DataSample } from '../audit/data-sample.js'
import { parseDuration } from '../audit/duration.js'
import { FINDING_KINDS, formatFinding, type Finding } from '../audit/findings.js'
import { verifyStore, type VerifyResult } from '../audit/verify-store.js'
import { requireManifestKey } from '../manifests/manifest-key.js'
import { parseTimeOption } from '../manifests/parse-time.js'
import { formatRecord } from '../protocol/write-records.js'
import { humanBytes } from '../restore/progress.js'
import { openRestoreStore, STORE_ACCESS_OPTIONS, type RestoreStore, type RestoreStoreDeps } from '../restore/restore-store.js'
import { estimateRequestCost, formatDollars } from '../store/pricing.js'
import type { LockMode } from '../store/store.js'

/** Requests in flight at once by default: retention reads are small; 16 hides S3's latency without flooding it. */
const DEFAULT_JOBS = 16
const MAX_JOBS = 128

/** Test seams; the registered command uses the defaults. */
export interface VerifyCommandDeps extends RestoreStoreDeps {
  /** The clock (default: the system's). */
  now?: () => Date
  /** Opens the store instead of the options (tests that watch its requests). */
  openStore?: (args: ParsedArgs, io: CommandIO) => Promise<RestoreStore>
}

const NAME = 's3-sysbackup verify'

export function makeVerifyCommand(deps: VerifyCommandDeps = {}): CommandSpec {
  return {
    name: NAME,
    synopsis: '[--host NAME]... [--at TIME | --key KEY] [--all] [--max-age AGE] [--read-data | --read-data-subset N%|N/M] [--json] [options]',
    summary: 'Checks, without restoring, that backups exist, are complete and stay locked as long as\n'
      + 'promised: by default the newest complete backup of every host. Each manifest must parse,\n'
      + 'match its digest and say complete; every content version and snapshot it references must\n'
      + 'exist at that exact version and be locked in the configured mode at least until the\n'
      + 'manifest\'s retain-until. Prints a finding per problem, then a summary; exits 1 when there\n'
      + 'are findings. Needs only the audit role (list, read retention, read manifests), except\n'
      + 'with --read-data, which downloads content.',
    options: [
      { name: 'host', type: 'list', arg: 'NAME', help: 'verify host NAME (default: every host in the store)' },
      { name: 'at', type: 'string', arg: 'TIME', help: 'the newest complete backup at or before TIME (2026-11-26, 2026-11-26T08:00Z, 20261126T080000Z)' },
      { name: 'key', type: 'string', arg: 'KEY', help: 'exactly the manifest KEY (manifests/HOST/STAMP[.incomplete].ndjson.gz), complete or not' },
      { name: 'all', type: 'flag', help: 'every complete backup of the chosen hosts, not only the newest' },
      { name: 'max-age', type: 'string', arg: 'AGE', help: 'a finding when a host\'s newest complete backup is older than AGE (26h, 90m, 2d, 1w)' },
      { name: 'read-data', type: 'flag', help: 'download every referenced version and check its hash (needs the restore role)' },
      { name: 'read-data-subset', type: 'string', arg: 'N%|N/M', help: 'download and check a sample: N percent at random, or part N of M' },
      { name: 'seed', type: 'string', arg: 'TEXT', help: 'choose the --read-data-subset N% sample from TEXT (default: random), to repeat a check' },
      { name: 'json', type: 'flag', help: 'NDJSON: one "finding" record per problem, then a "summary" record' },
      { name: 'jobs', alias: 'j', type: 'number', arg: 'N', help: `requests in flight at once (default ${DEFAULT_JOBS})` },
      ...STORE_ACCESS_OPTIONS,
    ],
    manPage: 's3-sysbackup-verify(1)',
    main: (args, io) => verify(args, io, deps),
  }
}

export const verifySubcommand = makeVerifyCommand()

async function verify(args: ParsedArgs, io: CommandIO, deps: VerifyCommandDeps): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`)
  const hosts = args.list('host')
  for (const host of hosts) checkHostOption(host)
  const key = args.string('key')
  const atText = args.string('at')
  if (key !== undefined && (hosts.length > 0 || atText !== undefined || args.flag('all'))) throw new UsageError('--key names one manifest exactly: give it without --host, --at and --all')
  if (key !== undefined) requireManifestKey(key, 'option --key:')
  const at = atText !== undefined ? parseTimeOption(atText) : undefined
  const maxAgeMs = args.string('max-age') !== undefined ? parseDuration(args.string('max-age')!, '--max-age') : undefined
  const readData = dataSampleFromArgs(args)
  const jobs = args.number('jobs') ?? DEFAULT_JOBS
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > MAX_JOBS) throw new UsageError(`option --jobs: ${jobs} is not a whole number from 1 to ${MAX_JOBS}`)
  const json = args.flag('json')

  const { store, config } = await (deps.openStore ?? ((a, i) => openRestoreStore(a, i, deps)))(args, io)
  const now = (deps.now ?? (() => new Date()))()
  const report = (f: Finding) => {
    io.stdout.write(json ? formatRecord({ ...f }) : formatFinding(f))
  }
  const result = await verifyStore(store, {
    ...(key !== undefined && { key }),
    ...(hosts.length > 0 && { hosts: [...new Set(hosts)] }),
    ...(at !== undefined && { at }),
    ...(args.flag('all') && { all: true }),
    ...(maxAgeMs !== undefined && { maxAgeMs }),
    ...(readData !== undefined && { readData }),
    defaultMode: config.values.content.lock_mode as LockMode,
    concurrency: jobs,
    now,
  }, report)
  io.stdout.write(json ? formatRecord(summaryRecord(result, store.id, readData)) : summaryText(result, store.id, readData))
  return result.findingCount > 0 ? EXIT.INCOMPLETE : EXIT.OK
}

/** --read-data and --read-data-subset, checked. */
function dataSampleFromArgs(args: ParsedArgs): DataSample | undefined {
  const subset = args.string('read-data-subset')
  if (subset !== undefined && args.flag('read-data')) throw new UsageError('give --read-data or --read-data-subset, not both')
  if (args.has('seed') && (subset === undefined || !subset.endsWith('%'))) throw new UsageError('--seed chooses an N% sample: give it with --read-data-subset N%')
  if (subset !== undefined) return parseDataSample(subset, args.string('seed'))
  return args.flag('read-data') ? ALL_DATA : undefined
}

/** The `summary` record of --json (documented in s3-sysbackup-verify(1)). */
function summaryRecord(r: VerifyResult, storeId: string, readData: DataSample | undefined): Record<string, unknown> & { type: string } {
  const cost = estimateRequestCost(r.requests)
  return {
    type: 'summary',
    store: storeId,
    clean: r.findingCount === 0,
    hosts: r.hosts,
    backups: r.manifests.map((m) => m.key),
    entries: r.manifests.reduce((n, m) => n + m.entries, 0),
    versions: r.objects.versions,
    snapshots: r.objects.snapshots,
    locksRead: r.objects.locksRead,
    listingPages: r.objects.sweepPages,
    keyListings: r.objects.keyListings,
    ...(readData !== undefined && { readData: readData.text, dataRead: r.objects.dataRead, bytesRead: r.objects.bytesRead }),
    findings: r.findingCount,
    byKind: Object.fromEntries(FINDING_KINDS.filter((k) => r.findings[k] !== undefined).map((k) => [k, r.findings[k]])),
    requests: r.requests,
    estimatedCost: Number(cost.dollars.toFixed(8)),
  }
}

/** The human summary, after the findings. */
function summaryText(r: VerifyResult, storeId: string, readData: DataSample | undefined): string {
  const entries = r.manifests.reduce((n, m) => n + m.entries, 0)
  const o = r.objects
  const lines = [
    `Verified ${r.manifests.length} backup(s) of ${r.hosts.length} host(s) in ${storeId}: ${entries} entries; ` +
      `${o.versions - o.snapshots} content version(s) and ${o.snapshots} snapshot(s) referenced, ${o.locksRead} lock(s) read` +
      `${readData !== undefined ? `, ${o.dataRead} downloaded and hashed (${humanBytes(o.bytesRead)}, sample ${readData.text})` : ''}.`,
  ]
  const cost = estimateRequestCost(r.requests)
  const requests = Object.entries(r.requests).map(([api, n]) => `${api} ${n}`).join(', ')
  lines.push(`Requests: ${requests || 'none'} (estimated ${formatDollars(cost.dollars)}).`)
  if (r.findingCount === 0) {
    lines.push('No problems found.')
  } else {
    const kinds = FINDING_KINDS.filter((k) => r.findings[k] !== undefined).map((k) => `${r.findings[k]} ${k}`)
    lines.push(`${r.findingCount} finding(s): ${kinds.join(', ')}.`)
  }
  return lines.join('\n') + '\n'
}
