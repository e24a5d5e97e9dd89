import type { Readable } from 'node:stream'
import type { StageContext } from '../../cli/stage.js'
import { decodePath, pathAsLatin1 } from '../../protocol/path-codec.js'
import { RecordReader } from '../../protocol/read-records.js'
import { isEntry, type HeaderRecord, type Rec, type TrailerRecord } from '../../protocol/records.js'
import { recordLine } from '../../protocol/write-records.js'
import { ExternalSorter } from './external-sort.js'
import { checkSnapshotFields, fileEntryProblem, snapshotProblem, withoutReference } from './invariant.js'
import { LineSpool } from './line-spool.js'
import type { ProblemLog } from './problem-log.js'
import type { SpillDir } from './spill-dir.js'

/**
 * One input of the stage: a name for messages (`stdin`, a file name) and
 * either its bytes or, from a stage running in this process (the archive
 * wrapper's chain), its records.
 */
export type InputSource = { name: string, stream: Readable } | { name: string, records: AsyncIterable<Rec> }

/** An upstream stage seen in an input: its header, and its trailer unless the stream was cut off. */
export interface StageRun {
  source: string
  header: HeaderRecord
  trailer: TrailerRecord | null
}

/** What one input held besides its entries, kept in input order for the manifest. */
export interface InputState {
  source: string
  snapshots: LineSpool
  unknown: LineSpool
  /** Its error and warning records, with this stage's problems about its records in between. */
  log: LineSpool
  stages: StageRun[]
  /** Why the input is incomplete (no trailer for some header), or null. */
  truncation: string | null
  /** Upstream trailers with ok false: `producer: reason`. */
  upstreamProblems: string[]
}

export interface CollectSettings {
  /** R: what entries and snapshots must be retained until. */
  retainUntil: Date
  dir: SpillDir
  sortMemoryBytes: number
  /**
   * A dry run: entries the upload stage only pretended to store
   * (`upload: would-store`, `would-extend`) have no version yet, and that
   * is not a problem.
   */
  dryRun?: boolean
}

/**
 * Reads every input at once, each through its own RecordReader (so an
 * error names `snaps.ndjson:12`), and sorts what it holds into the parts
 * of the manifest: entries into the external sort (after the invariant-2
 * check), snapshots, records of unknown types and the log into spools of
 * their input, headers and trailers into `stages`. Nothing is decided from
 * the order in which inputs arrive: every part keeps input order.
 */
export class InputCollector {
  readonly sorter: ExternalSorter
  readonly inputs: InputState[] = []
  /** Error and warning records read from the inputs. */
  upstreamErrors = 0
  upstreamWarnings = 0
  /** Entries and snapshots whose reference was dropped because it breaks invariant 2. */
  unreferenced = 0
  entries = 0
  snapshots = 0
  private stopped = false
  private streams: Readable[] = []

  constructor(private readonly ctx: StageContext, private readonly problems: ProblemLog, private readonly settings: CollectSettings) {
    this.sorter = new ExternalSorter(settings.dir, settings.sortMemoryBytes)
  }

  /**
   * Reads every input to its end (or until ctx.signal aborts). The first
   * ProtocolError or RecordError stops every input and is thrown.
   */
  async readAll(sources: InputSource[]): Promise<void> {
    this.streams = sources.flatMap((s) => 'stream' in s ? [s.stream] : [])
    const onAbort = () => this.stop()
    this.ctx.signal.addEventListener('abort', onAbort, { once: true })
    let failure: { error: unknown } | undefined
    try {
      await Promise.all(sources.map((source, index) => this.readInput(index, source, sources.length > 1).catch((error: unknown) => {
        // The first failure stops the others; what they throw then is only a consequence.
        if (failure === undefined && !this.stopped) failure = { error }
        this.stop()
      })))
    } finally {
      this.ctx.signal.removeEventListener('abort', onAbort)
    }
    if (failure !== undefined) throw failure.error
  }

  /** Why the manifest is incomplete, in input order; empty when it is complete. */
  incompleteness(): string[] {
    const reasons: string[] = []
    if (this.unreferenced > 0) reasons.push(`${this.unreferenced} reference(s) to content not stored or not retained until R were dropped`)
    for (const input of this.inputs) if (input.truncation !== null) reasons.push(`${input.source}: ${input.truncation}`)
    for (const input of this.inputs) for (const problem of input.upstreamProblems) reasons.push(`upstream ${problem}`)
    if (this.upstreamErrors > 0) reasons.push(`${this.upstreamErrors} error(s) upstream`)
    return reasons
  }

  private stop(): void {
    if (this.stopped) return
    this.stopped = true
    for (const stream of this.streams) stream.destroy()
  }

  private async readInput(index: number, source: InputSource, oneOfSeveral: boolean): Promise<void> {
    const { dir } = this.settings
    const state: InputState = {
      source: source.name,
      snapshots: new LineSpool(dir, 'snapshots'),
      unknown: new LineSpool(dir, 'unknown'),
      log: new LineSpool(dir, 'log'),
      stages: [],
      truncation: null,
      upstreamProblems: [],
    }
    this.inputs[index] = state
    // With several inputs, an empty one is a stage that died before it wrote
    // (a killed snapshot stage): the others still make an incomplete manifest.
    const options = { source: source.name, emptyIsTruncated: oneOfSeveral }
    const reader = 'stream' in source ? new RecordReader(source.stream, options) : RecordReader.ofRecords(source.records, options)
    const open: StageRun[] = []
    for await (const rec of reader) {
      if (this.stopped) return
      if (isEntry(rec)) {
        // Most entries are taken without waiting (see ExternalSorter.add): no await, no extra turn.
        const spilling = this.entry(rec, index, reader.lines, state)
        if (spilling !== undefined) await spilling
      } else if (rec.type === 'snapshot') {
        await this.snapshot(rec, state)
      } else if (rec.type === 'error' || rec.type === 'warning') {
        if (rec.type === 'error') this.upstreamErrors++
        else this.upstreamWarnings++
        await state.log.add(recordLine(rec))
      } else if (rec.type === 'header') {
        const run: StageRun = { source: source.name, header: rec as HeaderRecord, trailer: null }
        open.push(run)
        state.stages.push(run)
      } else if (rec.type === 'trailer') {
        // RecordReader has checked that it closes a header of its producer.
        const at = open.map((r) => r.header.producer).lastIndexOf(rec.producer as string)
        open.splice(at, 1)[0]!.trailer = rec as TrailerRecord
      } else {
        await state.unknown.add(recordLine(rec))
      }
    }
    if (this.stopped) return
    state.truncation = reader.truncation()
    if (state.truncation !== null) await state.log.add(recordLine(this.problems.report('error', `${source.name}: ${state.truncation}`)))
    state.upstreamProblems = [...reader.upstreamProblems]
  }

  /** Takes an entry; returns a promise only when the caller must wait (a spill or a log write). */
  private entry(rec: Rec, index: number, lineNumber: number, state: InputState): Promise<void> | undefined {
    this.entries++
    const path = decodePath(rec)
    let kept = rec
    let logged: Promise<void> | undefined
    if (rec.type === 'file' && !(this.settings.dryRun && typeof rec.upload === 'string' && rec.upload.startsWith('would-'))) {
      const problem = fileEntryProblem(rec as Parameters<typeof fileEntryProblem>[0], this.settings.retainUntil)
      if (problem !== null) {
        this.unreferenced++
        kept = withoutReference(rec)
        logged = state.log.add(recordLine(this.problems.report('error', `${problem}; the entry is kept without a reference to content`, path)))
      }
    }
    const size = rec.type === 'file' ? rec.size as number : 0
    const spilling = this.sorter.add({ key: pathAsLatin1(path), input: index, line: lineNumber, kind: rec.type, size, json: recordLine(kept) })
    if (logged === undefined) return spilling
    return spilling === undefined ? logged : Promise.all([logged, spilling]).then(() => {})
  }

  private async snapshot(rec: Rec, state: InputState): Promise<void> {
    checkSnapshotFields(rec)
    this.snapshots++
    let kept: Rec = rec
    const problem = snapshotProblem(rec, this.settings.retainUntil)
    if (problem !== null) {
      this.unreferenced++
      kept = withoutReference(rec)
      await state.log.add(recordLine(this.problems.report('error', `snapshot ${rec.name}: ${problem}; it is listed without a reference to it`)))
    }
    await state.snapshots.add(recordLine(kept))
  }
}

