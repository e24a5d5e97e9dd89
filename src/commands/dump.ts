import { statSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { ParsedArgs } from '../cli/args.js'
import type { CommandSpec } from '../cli/command.js'
import { describeError, FatalError, UsageError } from '../cli/errors.js'
import { EXIT } from '../cli/exit-status.js'
import type { CommandIO } from '../cli/stage.js'
import { findInManifest, type Found, type Wanted } from '../manifests/find-entry.js'
import { openChosenManifest, type ChosenManifestDeps } from '../manifests/open-chosen.js'
import { decodePath, decodePathField, displayPath, parseDisplayPath } from '../protocol/path-codec.js'
import type { Rec } from '../protocol/records.js'
import { decodedChunks, type ContentRef } from '../restore/fetch-content.js'
import { EntryError, parseEntry } from '../restore/restore-entry.js'
import { CHOICE_OPTIONS } from '../restore/restore-options.js'
import { STORE_ACCESS_OPTIONS } from '../restore/restore-store.js'
import { NotFoundError } from '../store/errors.js'
import { writeFileAtomic } from '../util/atomic-file.js'
import { snapshotNameIn } from '../manifests/snapshot-label.js'

const NAME = 's3-sysbackup dump'
const SPECIAL_KINDS: Record<string, string> = { fifo: 'named pipe (FIFO)', socket: 'socket', char: 'character device', block: 'block device' }

export function makeDumpCommand(deps: ChosenManifestDeps = {}): CommandSpec {
  return {
    name: NAME,
    synopsis: '[--host NAME] [--at TIME | --key KEY] [-o FILE] [options] PATH',
    summary: 'Writes the content of one file of a backup (by default this host\'s newest complete\n'
      + 'one) to standard output, or to FILE: PATH is its absolute path as s3-sysbackup ls shows\n'
      + 'it, or snapshot:NAME for a snapshot. The content is checked against its SHA-256 and\n'
      + 'size as it streams; FILE is written only once it checks out. Reads the manifest as\n'
      + 'far as PATH, and the content.',
    options: [
      ...CHOICE_OPTIONS,
      { name: 'output', alias: 'o', type: 'string', arg: 'FILE', help: 'write to FILE (mode 0600, replaced only once the content is verified) instead of standard output' },
      ...STORE_ACCESS_OPTIONS,
    ],
    manPage: 's3-sysbackup-dump(1)',
    main: (args, io) => dump(args, io, deps),
  }
}

export const dumpSubcommand = makeDumpCommand()

async function dump(args: ParsedArgs, io: CommandIO, deps: ChosenManifestDeps): Promise<number> {
  if (args.positionals.length !== 1) throw new UsageError(`give one PATH (as s3-sysbackup ls shows it) or snapshot:NAME; got ${args.positionals.length}`)
  const given = args.positionals[0]!
  const wanted = wantedOf(given)
  const output = outputOf(args.string('output'))
  const { store, chosen, reader } = await openChosenManifest(args, io, deps)
  const found = await findInManifest(reader, wanted)
  if (found === null) {
    const hint = given.includes('\uFFFD') ? '; a path whose bytes are not UTF-8 must be given as s3-sysbackup ls shows it, with \\xNN escapes' : ''
    throw new UsageError(`${displayPath(given)}: not in backup ${chosen.key} (see s3-sysbackup ls)${hint}`)
  }
  const shown = displayPath(wanted.kind === 'snapshot' ? given : decodePath(found.rec))
  const ref = contentOf(found, shown, reader.source, chosen.key)
  if (found.linkedTo !== undefined) {
    io.stderr.write(`${NAME}: ${shown} has no content of its own in the backup; writing that of ${displayPath(decodePath(found.linkedTo))}, a hard link of the same file\n`)
  }
  let got
  try {
    got = await store.get(ref.key, ref.versionId)
  } catch (err) {
    if (err instanceof NotFoundError) throw new FatalError(`${shown}: its content is missing from the store (${err.message})`)
    throw err
  }
  if (output !== undefined) {
    try {
      await writeFileAtomic(output, decodedChunks(got, ref), { fileMode: 0o600 })
    } catch (err) {
      throw new FatalError(`${shown}: ${describeError(err, io.env)}; ${output} was not written`)
    }
    return EXIT.OK
  }
  let written = 0
  try {
    await pipeline(counted(decodedChunks(got, ref), (n) => { written += n }), io.stdout, { end: false })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') throw err
    // What went out cannot be taken back: say so, where the reader of the output will see it.
    throw new FatalError(`${shown}: ${describeError(err, io.env)}; the ${written} bytes written to standard output are NOT the file: discard them`)
  }
  return EXIT.OK
}

/** What PATH asks for: a snapshot, or the entry at PATH (or at the path it shows, with displayPath's escapes). */
function wantedOf(given: string): Wanted {
  const name = snapshotNameIn(given)
  if (name !== undefined) {
    if (name === '') throw new UsageError('give the snapshot\'s name after "snapshot:" (see s3-sysbackup ls \'snapshot:*\')')
    return { kind: 'snapshot', name }
  }
  if (!given.startsWith('/')) throw new UsageError(`"${displayPath(given)}" is not an absolute path: give PATH as in the backup, from / (see s3-sysbackup ls)`)
  const literal = Buffer.from(given, 'utf8')
  const unescaped = given.includes('\\') ? parseDisplayPath(given) : null
  return { kind: 'entry', paths: unescaped === null || unescaped.equals(literal) ? [literal] : [literal, unescaped] }
}

/** --output, absolute; undefined for standard output (none, or `-`). Checked before anything is read. */
function outputOf(option: string | undefined): string | undefined {
  if (option === undefined || option === '-') return undefined
  const file = resolve(option)
  const st = statSync(file, { throwIfNoEntry: false })
  if (st?.isDirectory() === true) throw new UsageError(`--output ${option}: is a directory; give the file to write`)
  if (statSync(dirname(file), { throwIfNoEntry: false })?.isDirectory() !== true) throw new UsageError(`--output ${option}: there is no directory ${dirname(file)}`)
  return file
}

/**
 * Where the content of what was found is: a snapshot's object, or a file
 * entry's (or, for a hard link without its own, its group's). Throws
 * UsageError for an entry that has no content to write, FatalError for a
 * record that cannot be used.
 */
function contentOf(found: Found, shown: string, source: string, backup: string): ContentRef {
  const { rec } = found
  const damaged = (why: string) => new FatalError(`${source}:${found.line}: ${shown}: ${why}`)
  if (rec.type === 'snapshot') {
    if (typeof rec.key !== 'string' || typeof rec.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(rec.sha256)) {
      throw damaged('the snapshot record has no "key" or no "sha256"')
    }
    return { key: rec.key, sha256: rec.sha256, ...(typeof rec.versionId === 'string' && { versionId: rec.versionId }) }
  }
  switch (rec.type) {
    case 'dir':
      throw new UsageError(`${shown}: is a directory in backup ${backup}, not a file (see s3-sysbackup ls '${shown}')`)
    case 'symlink':
      throw new UsageError(`${shown}: is a symbolic link in backup ${backup}, to ${targetOf(rec)}: dump the file it points to`)
    case 'special':
      throw new UsageError(`${shown}: is a ${SPECIAL_KINDS[String(rec.kind)] ?? 'special file'} in backup ${backup}: it has no content`)
  }
  const content = fileContent(rec, damaged) ?? (found.linkedTo !== undefined ? fileContent(found.linkedTo, damaged) : undefined)
  if (content === undefined) throw new UsageError(`${shown}: the backup ${backup} did not store its content (the entry has no "key"; its log says why)`)
  return content
}

function fileContent(rec: Rec, damaged: (why: string) => FatalError): ContentRef | undefined {
  try {
    const entry = parseEntry(rec)
    return entry.type === 'file' ? entry.content : undefined
  } catch (err) {
    if (err instanceof EntryError) throw damaged(err.message)
    throw err
  }
}

function targetOf(rec: Rec): string {
  try {
    return displayPath(decodePathField(rec, 'target'))
  } catch {
    return '(a target that cannot be read)'
  }
}

/** `chunks`, each counted by `add` as it is passed on. */
async function* counted(chunks: AsyncIterable<Buffer>, add: (bytes: number) => void): AsyncGenerator<Buffer> {
  for await (const chunk of chunks) {
    yield chunk
    add(chunk.length)
  }
}
