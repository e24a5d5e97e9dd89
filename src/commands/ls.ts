import { pipeline } from 'node:stream/promises'
import type { ParsedArgs } from '../cli/args.js'
import type { CommandSpec } from '../cli/command.js'
import { UsageError } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'
import type { CommandIO } from '../cli/stage.js'
import { LongFormat } from '../manifests/long-format.js'
import { openChosenManifest, type ChosenManifestDeps } from '../manifests/open-chosen.js'
import { manifestDamage, type ManifestReader } from '../manifests/read-manifest.js'
import { decodePath, displayPath, pathAsLatin1, type FsPath } from '../protocol/path-codec.js'
import { isEntry } from '../protocol/records.js'
import { formatRecord, joinReady } from '../protocol/write-records.js'
import { compileGlob, PathFilter } from '../restore/glob-filter.js'
import { CHOICE_OPTIONS } from '../restore/restore-options.js'
import { STORE_ACCESS_OPTIONS } from '../restore/restore-store.js'
import { snapshotLabel, snapshotNameIn } from '../manifests/snapshot-label.js'

const NAME = 's3-sysbackup ls'
/** What a bad PATTERN is called in its message. */
const PATTERN = 'PATTERN'
/** Lines of the manifest that are not records, shown one by one on standard error before they are only counted. */
const PROBLEMS_SHOWN = 10

type Format = 'plain' | 'long' | 'null' | 'json'

export function makeLsCommand(deps: ChosenManifestDeps = {}): CommandSpec {
  return {
    name: NAME,
    synopsis: '[--host NAME] [--at TIME | --key KEY] [-l | -0 | --json] [options] [PATTERN...]',
    summary: 'Lists what a backup holds (by default this host\'s newest complete one): its\n'
      + 'entries in path order, then its snapshots as snapshot:NAME. A PATTERN is a glob as\n'
      + 'restore --include takes it (a directory matched lists what is beneath it);\n'
      + 'snapshot:GLOB selects snapshots. Only the manifest is read. Exits 1 when PATTERNs\n'
      + 'match nothing, 3 when the manifest is damaged (what was read is listed).',
    options: [
      ...CHOICE_OPTIONS,
      { name: 'long', alias: 'l', type: 'flag', help: 'type and permissions, owner, group, size, modification time (UTC), path, -> symlink target' },
      { name: 'null', alias: '0', type: 'flag', help: 'only the paths, their exact bytes, each ended by a NUL (for xargs -0)' },
      { name: 'json', type: 'flag', help: 'the entry and snapshot records as in the manifest (NDJSON)' },
      ...STORE_ACCESS_OPTIONS,
    ],
    manPage: 's3-sysbackup-ls(1)',
    main: (args, io) => ls(args, io, deps),
  }
}

export const lsSubcommand = makeLsCommand()

async function ls(args: ParsedArgs, io: CommandIO, deps: ChosenManifestDeps): Promise<number> {
  const format = formatFromArgs(args)
  const selection = new Selection(args.positionals)
  const { chosen, reader } = await openChosenManifest(args, io, deps)
  const tally = { listed: 0, problems: 0 }
  const warn = (message: string) => io.stderr.write(`${NAME}: warning: ${message}\n`)
  // -0 lines are latin1 text, one character per byte of the path, so the bytes go out exactly.
  const encoding = format === 'null' ? 'latin1' : 'utf8'
  await pipeline(
    joinReady(listing(reader, selection, format, tally, warn), (line) => line),
    async function* (chunks: AsyncIterable<string>) {
      for await (const chunk of chunks) yield Buffer.from(chunk, encoding)
    },
    io.stdout,
    { end: false },
  )
  if (tally.problems > PROBLEMS_SHOWN) warn(`${tally.problems - PROBLEMS_SHOWN} more line(s) of ${reader.source} skipped`)
  const damage = manifestDamage(reader)
  if (damage !== null) warn(`${damage}; the listing may be incomplete`)
  if (damage !== null || tally.problems > 0) return EXIT.FATAL
  if (tally.listed === 0 && args.positionals.length > 0) {
    io.stderr.write(`${NAME}: nothing in ${chosen.key} matches ${args.positionals.map((p) => JSON.stringify(p)).join(', ')}\n`)
    return EXIT.INCOMPLETE
  }
  return EXIT.OK
}

function formatFromArgs(args: ParsedArgs): Format {
  const given = (['long', 'null', 'json'] as const).filter((f) => args.flag(f))
  if (given.length > 1) throw new UsageError(`--${given[0]} and --${given[1]} do not go together: give one output format`)
  return given[0] ?? 'plain'
}

/**
 * Which entries and snapshots the PATTERNs select: with none, all of them;
 * otherwise entries by the PATTERNs that do not begin `snapshot:` (glob
 * patterns as restore's --include takes them), snapshots by those that do
 * (the rest a glob of the snapshot's name). `\snapshot:…` is a path pattern.
 */
class Selection {
  private readonly paths: PathFilter | null
  private readonly snapshots: RegExp[] | null

  constructor(patterns: readonly string[]) {
    const forPaths = patterns.filter((p) => snapshotNameIn(p) === undefined)
    const forSnapshots = patterns.map(snapshotNameIn).filter((name) => name !== undefined)
    const all = patterns.length === 0
    this.paths = all || forPaths.length > 0 ? new PathFilter(forPaths, [], { include: PATTERN, exclude: PATTERN }) : null
    this.snapshots = all ? null : forSnapshots.map((name) => compileGlob(name, PATTERN))
  }

  entry(path: FsPath): boolean {
    return this.paths !== null && this.paths.selects(path)
  }

  snapshot(name: string): boolean {
    if (this.snapshots === null) return true
    const text = pathAsLatin1(name)
    return this.snapshots.some((re) => re.test(text))
  }
}

/**
 * The output lines of the selected entries and snapshots, in manifest
 * order. Lines that are not records, and entries whose path cannot be
 * read, are counted in `tally.problems` (the first few also `warn`ed) and
 * skipped.
 */
async function* listing(reader: ManifestReader, selection: Selection, format: Format, tally: { listed: number, problems: number }, warn: (message: string) => void): AsyncGenerator<string> {
  const long = new LongFormat()
  const problem = (message: string) => {
    if (++tally.problems <= PROBLEMS_SHOWN) warn(`${message}; line skipped`)
  }
  for await (const line of reader) {
    if (line.problem !== undefined) {
      problem(`${reader.source}:${line.line}: ${line.problem}`)
      continue
    }
    const rec = line.rec
    if (rec.type === 'snapshot') {
      if (typeof rec.name !== 'string' || rec.name === '') {
        problem(`${reader.source}:${line.line}: snapshot record without a "name"`)
        continue
      }
      if (!selection.snapshot(rec.name)) continue
      tally.listed++
      const shown = snapshotLabel(rec.name)
      yield format === 'json' ? formatRecord(rec) : format === 'long' ? long.snapshot(rec) : format === 'null' ? `${pathAsLatin1(shown)}\0` : `${displayPath(shown)}\n`
    } else if (isEntry(rec)) {
      let path: FsPath
      try {
        path = decodePath(rec)
      } catch (err) {
        problem(`${reader.source}:${line.line}: ${rec.type} entry: ${(err as Error).message}`)
        continue
      }
      if (!selection.entry(path)) continue
      tally.listed++
      yield format === 'json' ? formatRecord(rec) : format === 'long' ? long.entry(rec, path) : format === 'null' ? `${pathAsLatin1(path)}\0` : `${displayPath(path)}\n`
    }
  }
}
