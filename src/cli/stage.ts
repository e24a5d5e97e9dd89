import { hostname } from 'node:os'
import type { Readable, Writable } from 'node:stream'
import { formatHelp, parseArgs, type OptionSpec, type ParsedArgs } from './args.js'
import { describeError, exitStatusOf, UserError } from './errors.js'
import { EXIT } from './exit-status.js'
import { displayPath, encodePath, type FsPath } from '../protocol/path-codec.js'
import { originOf, ProtocolError, RecordError, RecordReader } from '../protocol/read-records.js'
import { PROTOCOL_VERSION, type HeaderRecord, type ProblemRecord, type Rec, type TrailerRecord } from '../protocol/records.js'
import { recordsWritten, writeRecords } from '../protocol/write-records.js'
import { VERSION } from '../version.js'

/** The standard streams and environment a command runs with; tests pass their own. */
export interface CommandIO {
  stdin: Readable & { isTTY?: boolean }
  stdout: Writable & { isTTY?: boolean }
  stderr: Writable & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
}

/** The process's own streams and environment. */
export function processIO(): CommandIO {
  return { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env }
}

/** What a stage sees while it runs: counters, problem reporting, input, cancellation. */
export class StageContext {
  /** Reported in the trailer. `errors` and `warnings` are kept by problem(). */
  readonly counts: Record<string, number> = { records: 0, errors: 0, warnings: 0 }
  /**
   * Extra fields for this stage's header record (say `runTime`, `retainUntil`);
   * `start` may set them, since the header is written after it returns.
   */
  readonly headerFields: Record<string, unknown> = {}
  /** Aborted on SIGINT/SIGTERM (when not draining) or when stdout closes. */
  readonly signal: AbortSignal
  private reader: RecordReader | undefined
  private incompleteReason: string | undefined
  /** Set by runStage, whose output is a stream; in-process, a record is taken when the stage resumes. */
  private written: () => Promise<void> = async () => {}

  constructor(
    readonly name: string,
    readonly io: CommandIO,
    private readonly controller: AbortController,
    /** Records standing in for stdin: the previous stage's output, in the same process. */
    readonly inputRecords?: AsyncIterable<Rec>,
  ) {
    this.signal = controller.signal
  }

  /** The record stream on stdin (or inputRecords). Opened once; its truncation is checked at the end. */
  input(): RecordReader {
    this.reader ??= this.inputRecords
      ? RecordReader.ofRecords(this.inputRecords, { source: 'stdin' })
      : new RecordReader(this.io.stdin, { source: 'stdin' })
    return this.reader
  }

  /** The reader, if the stage opened one. */
  get openedInput(): RecordReader | undefined {
    return this.reader
  }

  /**
   * Resolves once every record this stage has yielded so far has been
   * written to its output, not merely queued: for a record that must be
   * out before the stage's next side effect, so that a kill in between
   * cannot lose it (sysbackup-snap's record of a stored snapshot, before
   * the next snapshotter starts).
   */
  outputWritten(): Promise<void> {
    return this.written()
  }

  /** Makes outputWritten() wait for `out` (runStage, which writes the records there). */
  writesTo(out: Writable): void {
    this.written = () => recordsWritten(out)
  }

  /** Adds n to a trailer counter. */
  count(name: string, n = 1): void {
    this.counts[name] = (this.counts[name] ?? 0) + n
  }

  /**
   * A per-item problem: counted, printed as one line on stderr
   * (`tool: path: message`), and returned as a record for the stage to emit.
   */
  problem(type: 'error' | 'warning', message: string, fields: { path?: FsPath, code?: string } = {}): ProblemRecord {
    this.count(type === 'error' ? 'errors' : 'warnings')
    const where = fields.path !== undefined ? `${displayPath(fields.path)}: ` : ''
    this.log(`${type === 'warning' ? 'warning: ' : ''}${where}${message}`)
    const rec: ProblemRecord = { type, stage: this.name, message }
    if (fields.code !== undefined) rec.code = fields.code
    if (fields.path !== undefined) Object.assign(rec, encodePath(fields.path))
    return rec
  }

  /** Marks this stage's output incomplete (exit 1) without a per-item error. */
  markIncomplete(reason: string): void {
    this.incompleteReason ??= reason
  }

  get incomplete(): string | undefined {
    return this.incompleteReason
  }

  /** Writes `tool: message` to stderr. */
  log(message: string): void {
    this.io.stderr.write(`${this.name}: ${message}\n`)
  }

  abort(reason: string): void {
    this.controller.abort(new Error(reason))
  }
}

/**
 * A stage: a command that writes a record stream. `start` checks options
 * and configuration (throwing UsageError or ConfigError before any output)
 * and returns the stage's records; the runner adds the header and trailer.
 */
export interface StageSpec {
  name: string
  synopsis: string
  summary: string
  options: OptionSpec[]
  /** True when the stage reads records from stdin (it then drains on SIGINT). */
  readsRecords: boolean
  start(ctx: StageContext, args: ParsedArgs): Promise<AsyncIterable<Rec>>
}

export interface RunOptions {
  /** Install SIGINT/SIGTERM handlers (only for a real process). */
  handleSignals?: boolean
  /** Fixed clock for tests. */
  now?: () => Date
}

/** How a stage runs inside another command's process (see startStage). */
export interface InProcessOptions {
  /** The previous stage's records, read in place of stdin. */
  input?: AsyncIterable<Rec>
  /**
   * Stops the stage as SIGTERM would stop its process; the abort reason,
   * when it is a signal's name, is the one its trailer reports.
   */
  signal: AbortSignal
}

/** A stage started in this process: its records, and its exit status once they have all been read. */
export interface StageRun {
  /** `header, records…, trailer`. */
  records: AsyncGenerator<Rec>
  /** The exit status (see EXIT); valid once `records` has ended. */
  status(): number
}

/**
 * Runs a stage: parses argv, writes `header, records…, trailer` to stdout
 * with backpressure, and returns the exit status (see EXIT). Never throws.
 */
export async function runStage(spec: StageSpec, argv: string[], io: CommandIO, options: RunOptions = {}): Promise<number> {
  const controller = new AbortController()
  const started = await openStage(spec, argv, io, controller, options)
  if (typeof started === 'number') return started
  const removeSignals = options.handleSignals ? installSignals(spec, started.ctx, io, started.interrupt) : () => {}
  started.ctx.writesTo(io.stdout)
  try {
    await writeRecords(started.records, io.stdout)
  } catch (err) {
    controller.abort(err)
    removeSignals()
    if ((err as NodeJS.ErrnoException).code === 'EPIPE') return EXIT.OK // the reader went away (`| head`)
    started.ctx.log(`stdout: ${describeError(err, io.env)}`)
    return EXIT.FATAL
  }
  removeSignals()
  return started.status()
}

/**
 * Starts a stage inside the calling process, as the archive wrapper runs
 * its chain: its records are handed over as objects (no JSON in between),
 * its input comes from `inProcess.input`, and `inProcess.signal` stands in
 * for SIGTERM. Returns the exit status instead when the stage ends before
 * its first record (--help, a usage or configuration error); never throws.
 */
export async function startStage(
  spec: StageSpec, argv: string[], io: CommandIO, inProcess: InProcessOptions, options: RunOptions = {},
): Promise<StageRun | number> {
  const controller = new AbortController()
  const onAbort = () => {
    const reason: unknown = inProcess.signal.reason
    if (typeof opened !== 'number') opened.interrupt(typeof reason === 'string' && reason.startsWith('SIG') ? reason : 'SIGTERM')
  }
  const onOutputClosed = (ended: boolean) => {
    inProcess.signal.removeEventListener('abort', onAbort)
    // A consumer that stopped early: the stage stops too (as on EPIPE).
    if (!ended && !controller.signal.aborted) controller.abort(new Error('output closed'))
  }
  const opened = await openStage(spec, argv, io, controller, options, { input: inProcess.input, onOutputClosed })
  if (typeof opened === 'number') return opened
  if (inProcess.signal.aborted) onAbort()
  else inProcess.signal.addEventListener('abort', onAbort, { once: true })
  // The stage's own output generator, not a wrapper around it: every
  // generator a record passes through costs it several promises.
  return { records: opened.records, status: opened.status }
}

interface OpenedStage {
  ctx: StageContext
  records: AsyncGenerator<Rec>
  status(): number
  /** Stops the stage as this signal does. */
  interrupt(signal: string): void
}

/** How a stage opened in this process (startStage) differs from one on stdin and stdout. */
interface InProcessIO {
  /** The previous stage's records, read in place of stdin. */
  input?: AsyncIterable<Rec>
  /** Called once the output generator is done: `ended` when it was read to its end, false when its reader stopped early. */
  onOutputClosed(ended: boolean): void
}

/** Parses argv and starts the stage; a number is the exit status of a stage that ended at once. */
async function openStage(
  spec: StageSpec, argv: string[], io: CommandIO, controller: AbortController, options: RunOptions, inProcess?: InProcessIO,
): Promise<OpenedStage | number> {
  const now = options.now ?? (() => new Date())
  const ctx = new StageContext(spec.name, io, controller, inProcess?.input)
  let args: ParsedArgs
  try {
    args = parseArgs(spec.options, argv)
  } catch (err) {
    ctx.log(describeError(err))
    return exitStatusOf(err)
  }
  if (args.flag('help')) {
    io.stdout.write(formatHelp(spec.name, spec.synopsis, spec.summary, spec.options, `${spec.name}(1)`))
    return EXIT.OK
  }
  if (args.flag('version')) {
    io.stdout.write(`${spec.name} ${VERSION}\n`)
    return EXIT.OK
  }

  let records: AsyncIterable<Rec>
  try {
    records = await spec.start(ctx, args)
  } catch (err) {
    ctx.log(describeError(err, io.env))
    return exitStatusOf(err)
  }

  let interrupted: string | undefined
  let failure: { status: number, message: string } | undefined

  const header: HeaderRecord = {
    type: 'header', producer: spec.name, protocol: PROTOCOL_VERSION, version: VERSION,
    startedAt: now().toISOString(), host: hostname(), ...ctx.headerFields,
  }

  async function* output(): AsyncGenerator<Rec> {
    let ended = false
    try {
      yield header
      try {
        for await (const rec of records) {
          if (rec.type !== 'header' && rec.type !== 'trailer') ctx.counts.records!++
          yield rec
          if (ctx.signal.aborted) break
        }
      } catch (err) {
        failure = classify(err, io.env)
        ctx.log(failure.message)
        yield { type: 'error', stage: spec.name, message: failure.message } satisfies ProblemRecord
      }
      yield trailer()
      ended = true
    } finally {
      inProcess?.onOutputClosed(ended)
    }
  }

  function trailer(): TrailerRecord {
    const reader = ctx.openedInput
    // A stage that stopped early (interrupted, or its reader went away) has
    // not read its input to the end; that is not the input's fault.
    const truncated = !failure && !interrupted && !ctx.signal.aborted && reader ? reader.truncation() : null
    if (truncated) {
      ctx.log(`stdin: ${truncated}`)
      ctx.markIncomplete(truncated)
    }
    const reason = failure?.message
      ?? (interrupted ? `interrupted by ${interrupted}` : undefined)
      ?? ctx.incomplete
      ?? (ctx.counts.errors! > 0 ? `${ctx.counts.errors} error(s)` : undefined)
      ?? (reader && reader.upstreamProblems.length > 0 ? `upstream: ${reader.upstreamProblems.join('; ')}` : undefined)
    const rec: TrailerRecord = {
      type: 'trailer', producer: spec.name, ok: reason === undefined, counts: { ...ctx.counts }, finishedAt: now().toISOString(),
    }
    if (reason !== undefined) rec.reason = reason
    return rec
  }

  return {
    ctx,
    records: output(),
    status() {
      if (failure) return failure.status
      if (interrupted) return EXIT.INTERRUPTED
      if (ctx.incomplete !== undefined || ctx.counts.errors! > 0) return EXIT.INCOMPLETE
      return EXIT.OK
    },
    interrupt(signal) {
      interrupted = signal
      ctx.abort(`interrupted by ${signal}`)
    },
  }
}

function classify(err: unknown, env: NodeJS.ProcessEnv): { status: number, message: string } {
  if (err instanceof ProtocolError) return { status: EXIT.FATAL, message: err.message }
  if (err instanceof RecordError) {
    const where = originOf(err.rec)
    return { status: EXIT.FATAL, message: where ? `${where}: ${err.detail}` : err.detail }
  }
  if (err instanceof UserError) return { status: err.exitStatus, message: err.message }
  return { status: EXIT.FATAL, message: describeError(err, env) }
}

/**
 * SIGINT: a stage reading a pipe keeps going, so it passes on everything
 * upstream managed to send, then sees the cut-off stream and says so; a
 * stage at the head of a pipe stops. SIGTERM always stops.
 */
function installSignals(spec: StageSpec, ctx: StageContext, io: CommandIO, interrupt: (signal: string) => void): () => void {
  const stop = (signal: string) => () => interrupt(signal)
  const drainOnInt = spec.readsRecords && !io.stdin.isTTY
  const onInt = drainOnInt ? () => {} : stop('SIGINT')
  const onTerm = stop('SIGTERM')
  process.on('SIGINT', onInt)
  process.on('SIGTERM', onTerm)
  return () => {
    process.off('SIGINT', onInt)
    process.off('SIGTERM', onTerm)
  }
}
