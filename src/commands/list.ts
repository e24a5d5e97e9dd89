import type { ParsedArgs } from '../cli/args.js'
import type { CommandSpec } from '../cli/command.js'
import { UsageError } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'
import type { CommandIO } from '../cli/stage.js'
import { checkHostOption, resolveHost } from '../config/host.js'
import { chooseFrom } from '../manifests/choose-manifest.js'
import { describeManifests, listManifests, type ManifestDetails, type ManifestListing } from '../manifests/list-manifests.js'
import { requireManifestKey } from '../manifests/manifest-key.js'
import { parseTimeOption } from '../manifests/parse-time.js'
import { formatRecord } from '../protocol/write-records.js'
import { humanBytes } from '../restore/progress.js'
import { CHOICE_OPTIONS } from '../restore/restore-options.js'
import { openRestoreStore, STORE_ACCESS_OPTIONS, type RestoreStoreDeps } from '../restore/restore-store.js'

/** HeadObject requests in flight while listing. */
const HEAD_CONCURRENCY = 8

export interface ListCommandDeps extends RestoreStoreDeps {
  /** Host name of this machine (default: [archive] host, else the system's). */
  host?: string
}

export function makeListCommand(deps: ListCommandDeps = {}): CommandSpec {
  return {
    name: 's3-sysbackup list',
    synopsis: '[--host NAME] [--at TIME | --key KEY] [--json] [--store DIR | --creds FILE] [options]',
    summary: 'Lists the backups in the store by host and time: entries, bytes, complete or\n'
      + 'incomplete, and retained-until. "*" marks the backup s3-sysbackup restore would choose\n'
      + 'with the same --host and --at (by default this host\'s newest complete one).',
    options: [
      ...CHOICE_OPTIONS.map((o) => o.name === 'host'
        ? { ...o, help: 'only the backups of host NAME (default: every host)' }
        : o.name === 'at' ? { ...o, help: 'only backups at or before TIME (2026-11-26, 2026-11-26T08:00Z, 20261126T080000Z)' }
          : { ...o, help: 'only the manifest KEY' }),
      { name: 'json', type: 'flag', help: 'one JSON record per backup (NDJSON) instead of the table' },
      ...STORE_ACCESS_OPTIONS,
    ],
    manPage: 's3-sysbackup-list(1)',
    main: (args, io) => list(args, io, deps),
  }
}

export const listSubcommand = makeListCommand()

async function list(args: ParsedArgs, io: CommandIO, deps: ListCommandDeps): Promise<number> {
  if (args.positionals.length > 0) throw new UsageError(`unexpected argument "${args.positionals[0]}"`)
  const host = args.string('host')
  if (host !== undefined) checkHostOption(host)
  const at = args.string('at') !== undefined ? parseTimeOption(args.string('at')!) : undefined
  const key = args.string('key')
  if (key !== undefined && (host !== undefined || at !== undefined)) throw new UsageError('--key names one manifest exactly: give it without --host and --at')
  const keyInfo = key !== undefined ? requireManifestKey(key, 'option --key:') : undefined

  const { store, config } = await openRestoreStore(args, io, deps)
  const { manifests, strangers } = await listManifests(store, keyInfo?.host ?? host)
  if (strangers.length > 0) {
    io.stderr.write(`s3-sysbackup list: warning: ${strangers.length} object(s) under manifests/ are not manifest keys and are not listed (first: ${strangers[0]})\n`)
  }
  const shown = manifests.filter((m) => (key === undefined || m.key === key) && (at === undefined || m.runTime.getTime() <= at.getTime()))
  const chosen = chooseFrom(manifests, { ...(key !== undefined && { key }), ...(host !== undefined && { host }), ...(at !== undefined && { at }) }, deps.host ?? resolveHost(undefined, config))
  const details = await describeManifests(store, shown, HEAD_CONCURRENCY)
  if (args.flag('json')) {
    for (const m of details) io.stdout.write(formatRecord(jsonOf(m, m.key === chosen?.key)))
  } else if (details.length === 0) {
    io.stderr.write(`s3-sysbackup list: no backups${host !== undefined ? ` of host "${host}"` : ''}${at !== undefined ? ` at or before ${at.toISOString()}` : ''}${key !== undefined ? ` with key ${key}` : ''} in ${store.id}\n`)
  } else {
    io.stdout.write(table(details, chosen))
  }
  return EXIT.OK
}

/** The JSON record of one backup (type `backup`, documented in s3-sysbackup-list(1)). */
function jsonOf(m: ManifestDetails, chosen: boolean): Record<string, unknown> & { type: string } {
  return {
    type: 'backup', key: m.key, host: m.host, runTime: m.runTime.toISOString(), complete: m.complete,
    ...(m.entries !== undefined && { entries: m.entries }),
    ...(m.files !== undefined && { files: m.files }),
    ...(m.bytes !== undefined && { bytes: m.bytes }),
    ...(m.retainUntil !== undefined && { retainUntil: m.retainUntil.toISOString() }),
    ...(m.lockMode !== undefined && { lockMode: m.lockMode }),
    manifestBytes: m.size, versionId: m.versionId, chosen,
  }
}

/** The table, columns aligned. */
function table(rows: ManifestDetails[], chosen: ManifestListing | null): string {
  const header = ['', 'HOST', 'TIME', 'STATUS', 'ENTRIES', 'BYTES', 'RETAINED UNTIL', 'KEY']
  const cells = rows.map((m) => [
    m.key === chosen?.key ? '*' : '',
    m.host,
    isoSeconds(m.runTime),
    m.complete ? 'complete' : 'incomplete',
    m.entries !== undefined ? String(m.entries) : '-',
    m.bytes !== undefined ? humanBytes(m.bytes) : '-',
    m.retainUntil !== undefined ? isoSeconds(m.retainUntil) : '-',
    m.key,
  ])
  // The mark column keeps its width when nothing is marked, so the layout does not shift.
  const widths = header.map((h, i) => Math.max(i === 0 ? 1 : h.length, ...cells.map((c) => c[i]!.length)))
  const right = new Set([4, 5])
  const line = (c: string[]) => c.map((v, i) => i === c.length - 1 ? v : right.has(i) ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)).join('  ').trimEnd()
  return [line(header), ...cells.map(line)].join('\n') + '\n'
}

function isoSeconds(d: Date): string {
  return d.toISOString().replace(/\.\d{3}Z$/, 'Z')
}
