import { PassThrough, Readable, Writable } from 'node:stream'
import { startStage, type CommandIO, type StageSpec } from '../cli/stage.js'
import type { Rec } from '../protocol/records.js'
import type { InputSource } from '../stages/manifest/collect-inputs.js'
import { observed } from '../util/observed.js'
import { spawnStage, terminate, type ArchivePipelineResult, type StageCommand, type StageExit } from './stage-pipeline.js'

/**
 * What the snapshot stage's records may fill before the snap process must
 * wait for the manifest stage to read them: a pipe's worth. (A snapshot's
 * bytes go to the store, not here: only its records come this way.)
 */
const SIDE_BUFFER_BYTES = 64 * 1024

/** A stage run inside the wrapper's process, with its command-line arguments. */
export interface InProcessStage {
  spec: StageSpec
  args: string[]
}

export interface InProcessPipelineSpec {
  /** The file chain, each stage reading the previous one's records: pick, hash, upload. */
  chain: InProcessStage[]
  /**
   * Runs beside the chain; its output is the sink's second input. A
   * StageCommand runs as a process (the snap stage, when it has snapshot
   * programs to run and dumps to stream); an InProcessStage runs here, as
   * the chain does.
   */
  side: StageCommand | InProcessStage
  /** The manifest stage: reads the chain's records, then `moreInputs` (the side stage's output). */
  sink: { args: string[], spec: (moreInputs: InputSource[]) => StageSpec }
  env: NodeJS.ProcessEnv
  /** Where the stages' own messages go (one line each, prefixed with their name). */
  stderr: 'inherit' | Writable
  /** Aborting stops every stage, as SIGTERM stops a stage process; a signal's name as the reason is the one trailers report. */
  signal: AbortSignal
  /** Called with the number of records that have reached the sink so far. */
  onRecords?: (count: number) => void
}

/**
 * Runs the archive's stages the way runArchivePipeline does, but the file
 * chain and the manifest stage inside this process, handing records over
 * as objects:
 *
 *     pick → hash → upload ─┐            (this process)
 *     snap ─────────────────┴─> manifest
 *
 * One Node process instead of five: each stage process cost about 0.2 s of
 * CPU to start and 40–100 MB, and each pipe a JSON serialization and parse
 * of every record (bench/daily.ts). The stages are the same code, with the
 * same records, headers, trailers and exit statuses as their executables.
 * The side stage (snap) may stay a process: when it runs the
 * configuration's programs it streams their dumps, work kept off this
 * process's thread; it reads no records. Resolves when every stage has
 * ended; never rejects for a stage's failure.
 */
export async function runArchiveInProcess(spec: InProcessPipelineSpec): Promise<ArchivePipelineResult> {
  const stderr = spec.stderr === 'inherit' ? process.stderr : spec.stderr
  const io: CommandIO = { stdin: Readable.from([]), stdout: new Writable({ write: (_c, _e, done) => done() }), stderr, env: spec.env }

  const sideSpec = spec.side
  const side = 'spec' in sideSpec
    ? undefined
    : spawnStage(sideSpec, ['ignore', 'pipe', spec.stderr === 'inherit' ? 'inherit' : 'pipe'], spec.env, spec.stderr)
  const onAbort = () => {
    if (side) terminate(side.child)
  }
  spec.signal.addEventListener('abort', onAbort, { once: true })

  const runs: { name: string, status: () => number }[] = []
  const start = async (stage: InProcessStage, input: AsyncIterable<Rec> | undefined): Promise<AsyncIterable<Rec>> => {
    const run = await startStage(stage.spec, stage.args, io, input ? { input, signal: spec.signal } : { signal: spec.signal })
    if (typeof run === 'number') {
      // Ended before its header (a usage or configuration error, said on
      // stderr): the next stage sees an empty stream, as after a pipe.
      runs.push({ name: stage.spec.name, status: () => run })
      return emptyRecords()
    }
    runs.push({ name: stage.spec.name, status: run.status })
    return run.records
  }

  let chainEnd: AsyncIterable<Rec> | undefined
  const chainOutputs: AsyncIterable<Rec>[] = []
  for (const stage of spec.chain) {
    chainEnd = await start(stage, chainEnd)
    // The first stage starts its programs (the pickers, pick's python3
    // reader) now, while the stages after it load their caches, instead of
    // once they first ask for a record.
    if (chainOutputs.length === 0) chainEnd = startedAhead(chainEnd)
    chainOutputs.push(chainEnd)
  }
  let sideInput: InputSource
  let sideOutput: PassThrough | undefined
  if ('spec' in sideSpec) sideInput = { name: sideSpec.spec.name, records: await start(sideSpec, undefined) }
  else {
    // Read at once into a buffer of our own: when a child exits, Node resumes
    // its stdout if nothing reads it yet, and what it wrote is lost. The snap
    // stage often ends before the manifest stage starts reading (a store that
    // takes a moment to open), and its records would be gone.
    sideOutput = side!.child.stdout!.pipe(new PassThrough({ highWaterMark: SIDE_BUFFER_BYTES }))
    sideInput = { name: sideSpec.name, stream: sideOutput }
  }
  const sink = await start({ spec: spec.sink.spec([sideInput]), args: spec.sink.args }, counted(chainEnd!, spec.onRecords))

  const sinkRecords: Rec[] = []
  for await (const rec of sink) sinkRecords.push(rec)
  // A sink that failed before reading: close the chain (its generators'
  // finally blocks run) and the side stage's records or pipe. Every stage
  // of it: one that ended before its header never read the stage before.
  for (const records of chainOutputs.reverse()) await closeIterable(records)
  if ('records' in sideInput) await closeIterable(sideInput.records)
  side?.child.stdout!.destroy()
  sideOutput?.destroy()
  const sideExit = side ? [await side.exit] : []
  spec.signal.removeEventListener('abort', onAbort)

  // In order: the chain, the side stage, the sink.
  const exits: StageExit[] = runs.map((r) => ({ name: r.name, status: r.status(), signal: null }))
  exits.splice(spec.chain.length, 0, ...sideExit)
  return { exits, sinkRecords }
}

/**
 * Asks `records` for its first two records at once (a stage's header, then
 * what makes it start its work), and hands them over first when they are
 * read. Closing the result closes `records`.
 */
function startedAhead(records: AsyncIterable<Rec>): AsyncIterable<Rec> {
  const iterator = records[Symbol.asyncIterator]()
  const ahead = [iterator.next(), iterator.next()]
  // Read later, or never if the next stage ended first: not unhandled meanwhile.
  for (const result of ahead) result.catch(() => {})
  const started: AsyncIterableIterator<Rec> = {
    [Symbol.asyncIterator]: () => started,
    next: () => ahead.shift() ?? iterator.next(),
    return: async (value?: unknown) => {
      ahead.length = 0
      return iterator.return ? iterator.return(value) : { done: true, value }
    },
  }
  return started
}

async function* emptyRecords(): AsyncGenerator<Rec> {
  // nothing: a stage that never started
}

/** Passes records through, reporting how many have passed. */
function counted(records: AsyncIterable<Rec>, onRecords: ((count: number) => void) | undefined): AsyncIterable<Rec> {
  if (onRecords === undefined) return records
  let count = 0
  return observed(records, () => onRecords(++count))
}

async function closeIterable(records: AsyncIterable<Rec>): Promise<void> {
  const iterator = records as Partial<AsyncGenerator<Rec>>
  if (typeof iterator.return === 'function') await iterator.return(undefined)
}
