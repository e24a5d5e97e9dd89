import { createHash } from 'node:crypto'
import type { HeaderRecord, Rec, TrailerRecord } from '../../protocol/records.js'
import { formatRecord, recordLine } from '../../protocol/write-records.js'
import type { InputCollector } from './collect-inputs.js'
import { LineSpool } from './line-spool.js'
import type { ProblemLog } from './problem-log.js'
import type { SpillDir } from './spill-dir.js'

/** The trailer counts of a manifest (see sysbackup-manifest(1)). */
export interface ManifestCounts {
  entries: number
  files: number
  dirs: number
  symlinks: number
  special: number
  snapshots: number
  errors: number
  warnings: number
  /** Sum of the sizes of the file entries. */
  bytes: number
  /** Entries dropped because their path was already there. */
  duplicates: number
}

export interface ManifestVerdict {
  complete: boolean
  reason?: string
}

/**
 * The manifest object's lines, each ending in a newline, in order:
 *
 *   header
 *   entries, sorted by path bytes, one per path
 *   snapshot records
 *   records of unknown types
 *   the log: per input, its error and warning records (with this stage's
 *     own about its records), then a `stage` record per upstream stage
 *     (its header and trailer); then this stage's duplicate warnings
 *   trailer: ok, reason, counts, digest
 *
 * `digest` is `sha256:<hex>` of every line before the trailer, exactly as
 * written (before compression), so `head -n -1 | sha256sum` checks it.
 * After the last line, `counts` and `digest` hold the trailer's values.
 */
/** Characters of text per block of blocks() (lines are not split: a block may be longer). */
const BLOCK_CHARS = 64 * 1024

export class ManifestLines {
  readonly counts: ManifestCounts = {
    entries: 0, files: 0, dirs: 0, symlinks: 0, special: 0, snapshots: 0, errors: 0, warnings: 0, bytes: 0, duplicates: 0,
  }

  digest = ''

  constructor(
    private readonly header: HeaderRecord,
    private readonly inputs: InputCollector,
    private readonly problems: ProblemLog,
    private readonly verdict: ManifestVerdict,
    private readonly dir: SpillDir,
    private readonly now: () => Date,
  ) {}

  /**
   * The manifest's bytes (UTF-8), in blocks of whole lines of about BLOCK_CHARS
   * each: one hash update and one hand-over per block, where one per line
   * cost a 20,000-file run ~40 ms at its end, when nothing else is left to
   * do. The trailer comes last, as a block of its own.
   */
  async *blocks(): AsyncGenerator<Buffer> {
    const hash = createHash('sha256')
    const counts = this.counts
    let block = ''
    const take = (): Buffer => {
      // Encoded once, for the hash and the file alike.
      const bytes = Buffer.from(block)
      block = ''
      hash.update(bytes)
      return bytes
    }
    block += formatRecord(this.header)

    const duplicates = new LineSpool(this.dir, 'duplicates')
    const sources = this.inputs.inputs.map((i) => i.source)
    let previous: { key: string, input: number, line: number, json: string } | undefined
    for await (const item of this.inputs.sorter.sorted()) {
      if (previous !== undefined && previous.key === item.key) {
        counts.duplicates++
        const how = previous.json === item.json ? 'an identical one' : 'a different one'
        const message = `duplicate entry: kept the one from ${sources[previous.input]}:${previous.line}, dropped ${how} from ${sources[item.input]}:${item.line}`
        await duplicates.add(recordLine(this.problems.report('warning', message, Buffer.from(item.key, 'latin1'))))
        continue
      }
      previous = item
      counts.entries++
      switch (item.kind) {
        case 'file': counts.files++; counts.bytes += item.size; break
        case 'dir': counts.dirs++; break
        case 'symlink': counts.symlinks++; break
        default: counts.special++
      }
      block += item.json + '\n'
      if (block.length >= BLOCK_CHARS) yield take()
    }

    for (const input of this.inputs.inputs) {
      for await (const text of input.snapshots.lines()) {
        counts.snapshots++
        block += text + '\n'
        if (block.length >= BLOCK_CHARS) yield take()
      }
    }
    for (const input of this.inputs.inputs) {
      for await (const text of input.unknown.lines()) {
        block += text + '\n'
        if (block.length >= BLOCK_CHARS) yield take()
      }
    }
    for (const input of this.inputs.inputs) {
      for await (const text of input.log.lines()) {
        block += text + '\n'
        if (block.length >= BLOCK_CHARS) yield take()
      }
      for (const run of input.stages) {
        const rec: Rec = { type: 'stage', producer: run.header.producer, source: run.source, header: run.header, trailer: run.trailer }
        block += formatRecord(rec)
      }
    }
    for await (const text of duplicates.lines()) {
      block += text + '\n'
      if (block.length >= BLOCK_CHARS) yield take()
    }
    if (block !== '') yield take()

    counts.errors = this.inputs.upstreamErrors + this.problems.counted('errors')
    counts.warnings = this.inputs.upstreamWarnings + this.problems.counted('warnings')
    this.digest = `sha256:${hash.digest('hex')}`
    const trailer: TrailerRecord = {
      type: 'trailer',
      producer: this.header.producer,
      ok: this.verdict.complete,
      ...(this.verdict.reason !== undefined && { reason: this.verdict.reason }),
      counts: { ...counts },
      digest: this.digest,
      finishedAt: this.now().toISOString(),
    }
    yield Buffer.from(formatRecord(trailer))
  }
}
