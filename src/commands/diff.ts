import type { ParsedArgs } from '../cli/args.js'
import type { CommandSpec } from '../cli/command.js'
import { UsageError } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'
import type { CommandIO } from '../cli/stage.js'
import { resolveHost } from '../config/host.js'
import { parseBackupSelector } from '../audit/backup-selector.js'
import { diffManifests, METADATA_FIELDS, type Change, type DiffCounts } from '../audit/diff-entries.js'
import { findManifest } from '../manifests/choose-manifest.js'
import { manifestDamage, openManifest } from '../manifests/read-manifest.js'
import { displayPath, encodePath } from '../protocol/path-codec.js'
import { formatRecord } from '../protocol/write-records.js'
import { humanBytes } from '../restore/progress.js'
import { openRestoreStore, STORE_ACCESS_OPTIONS, type RestoreStoreDeps } from '../restore/restore-store.js'
import { snapshotNameIn } from '../manifests/snapshot-label.js'

const NAME = 's3-sysbackup diff'

export function makeDiffCommand(deps: RestoreStoreDeps = {}): CommandSpec {
  return {
    name: NAME,
    synopsis: '[--json] [options] A B',
    summary: 'Shows what changed between two backups, of one host or of two: entries added (A),\n'
      + 'removed (R), and modified (M): content, or metadata (type, owner, group, mode, ACL,\n'
      + 'default ACL, symlink target, device). A and B are manifest keys, or HOST[@TIME]: the\n'
      + 'newest complete backup of HOST (at or before TIME). Only the two manifests are read.\n'
      + 'Exits 0 when they are the same, 1 when they differ.',
    options: [
      { name: 'json', type: 'flag', help: 'NDJSON: one "change" record per difference, then a "summary" record' },
      ...STORE_ACCESS_OPTIONS,
    ],
    manPage: 's3-sysbackup-diff(1)',
    main: (args, io) => diff(args, io, deps),
  }
}

export const diffSubcommand = makeDiffCommand()

async function diff(args: ParsedArgs, io: CommandIO, deps: RestoreStoreDeps): Promise<number> {
  if (args.positionals.length !== 2) throw new UsageError(`give two backups to compare, A and B (HOST, HOST@TIME or a manifest key); got ${args.positionals.length}`)
  const choiceA = parseBackupSelector(args.positionals[0]!, 'first backup')
  const choiceB = parseBackupSelector(args.positionals[1]!, 'second backup')
  const json = args.flag('json')
  const { store, config } = await openRestoreStore(args, io, deps)
  const host = resolveHost(undefined, config)
  const a = await findManifest(store, choiceA, host)
  const b = await findManifest(store, choiceB, host)
  const readerA = await openManifest(store, a.key, a.versionId)
  const readerB = await openManifest(store, b.key, b.versionId)
  const counts: DiffCounts = { added: 0, removed: 0, modified: 0, contentChanged: 0, metadataChanged: 0, unchanged: 0 }
  for await (const change of diffManifests(readerA, readerB, counts)) {
    io.stdout.write(json ? formatRecord(changeRecord(change)) : changeLine(change))
  }
  const damaged = [readerA, readerB].map(manifestDamage).filter((d): d is string => d !== null)
  for (const d of damaged) io.stderr.write(`${NAME}: warning: ${d}; the differences shown may be incomplete\n`)
  if (json) {
    io.stdout.write(formatRecord({ type: 'summary', from: a.key, to: b.key, ...counts, same: counts.added + counts.removed + counts.modified === 0 }))
  } else {
    io.stdout.write(`${a.key} → ${b.key}: ${counts.added} added, ${counts.removed} removed, ${counts.modified} modified ` +
      `(${counts.contentChanged} in content, ${counts.metadataChanged} in metadata), ${counts.unchanged} unchanged\n`)
  }
  if (damaged.length > 0) return EXIT.FATAL
  return counts.added + counts.removed + counts.modified === 0 ? EXIT.OK : EXIT.INCOMPLETE
}

const CODE = { added: 'A', removed: 'R', modified: 'M' } as const

/** One line of the human output: `M /etc/hosts  mode 0644→0600, owner root→nobody`. */
function changeLine(c: Change): string {
  const parts: string[] = []
  if (c.content !== undefined) {
    const size = c.content.fromSize !== undefined && c.content.toSize !== undefined ? ` (${humanBytes(c.content.fromSize)}→${humanBytes(c.content.toSize)})` : ''
    parts.push(`content ${short(c.content.from)}→${short(c.content.to)}${size}`)
  }
  for (const field of METADATA_FIELDS) {
    const m = c.metadata?.[field]
    if (m !== undefined) parts.push(`${field} ${m.from ?? '(none)'}→${m.to ?? '(none)'}`)
  }
  const kind = c.change === 'modified' ? '' : ` ${c.entry}`
  return `${CODE[c.change]} ${displayPath(c.path)}${kind}${parts.length > 0 ? `  ${parts.join(', ')}` : ''}\n`
}

function short(hash: string | undefined): string {
  return hash === undefined ? '(none)' : `${hash.slice(0, 12)}…`
}

/** The `change` record of --json (documented in s3-sysbackup-diff(1)). */
function changeRecord(c: Change): Record<string, unknown> & { type: string } {
  const snapshot = typeof c.path === 'string' ? snapshotNameIn(c.path) : undefined
  const path = snapshot !== undefined ? { snapshot } : encodePath(c.path)
  return {
    type: 'change', change: c.change, ...path, entry: c.entry,
    ...(c.content !== undefined && { content: c.content }),
    ...(c.metadata !== undefined && { metadata: c.metadata }),
  }
}
