import { spawn, type ChildProcess } from 'node:child_process'
import { Readable, Transform, type Writable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { NODE_START_FLAGS } from '../cli/node-flags.js'
import { RecordReader } from '../protocol/read-records.js'
import type { Rec } from '../protocol/records.js'

/** One stage to run: the package's `bin/<name>.js` with these arguments. */
export interface StageCommand {
  name: string
  args: string[]
}

export interface ArchivePipelineSpec {
  /** The file chain, each stage's stdout feeding the next: pick, hash, upload. */
  chain: StageCommand[]
  /** Runs beside the chain; its stdout is the manifest stage's fd 3. */
  side: StageCommand
  /** Reads the chain's output on stdin and the side stage's on /dev/fd/3. */
  sink: StageCommand
  env: NodeJS.ProcessEnv
  /** Where the stages' own messages go (one line each, prefixed with their name). */
  stderr: 'inherit' | Writable
  /** Aborting sends SIGTERM to every stage still running. */
  signal: AbortSignal
  /** Called with the number of records that have reached the sink so far. */
  onRecords?: (count: number) => void
}

/** How one stage process ended. */
export interface StageExit {
  name: string
  /** Exit status, or null when a signal ended it. */
  status: number | null
  signal: NodeJS.Signals | null
  /** Set when the process could not be started at all. */
  spawnError?: string
}

export interface ArchivePipelineResult {
  exits: StageExit[]
  /** The sink's output records (its `manifest` record and trailer). */
  sinkRecords: Rec[]
}

/** Absolute path of a stage's launcher in this package. */
export function stageBin(name: string): string {
  return fileURLToPath(new URL(`../../bin/${name}.js`, import.meta.url))
}

/**
 * Runs the archive's stages as processes over pipes, the way a person would
 * by hand:
 *
 *     pick | hash | upload ─┐
 *     snap ─────────────────┴─> manifest
 *
 * The chain's pipes connect the processes directly (the parent keeps no end
 * of them, so a stage that dies gives its neighbours EOF or EPIPE as in a
 * shell pipeline). The last chain stage's output passes through this process
 * on its way to the sink, only to count records for progress. Resolves when
 * every stage has exited; never rejects for a stage's failure (its exit is
 * in the result).
 */
export async function runArchivePipeline(spec: ArchivePipelineSpec): Promise<ArchivePipelineResult> {
  const children: SpawnedStage[] = []
  const start = (command: StageCommand, stdio: StdioSpec): ChildProcess => {
    const spawned = spawnStage(command, stdio, spec.env, spec.stderr)
    children.push(spawned)
    return spawned.child
  }
  const stderr = spec.stderr === 'inherit' ? 'inherit' : 'pipe'

  // The chain: each stage reads the previous one's stdout.
  let previous: ChildProcess | undefined
  for (const command of spec.chain) {
    const child = start(command, [previous ? previous.stdout! : 'ignore', 'pipe', stderr])
    // Our copy of the pipe's read end must go, or the writer would never see EPIPE.
    previous?.stdout!.destroy()
    previous = child
  }
  const side = start(spec.side, ['ignore', 'pipe', stderr])
  const sink = start(spec.sink, ['pipe', 'pipe', stderr, side.stdout!])
  side.stdout!.destroy()

  const onAbort = () => {
    for (const { child } of children) terminate(child)
  }
  spec.signal.addEventListener('abort', onAbort, { once: true })

  const output: Buffer[] = []
  sink.stdout!.on('data', (chunk: Buffer) => output.push(chunk))
  // 'exit' can come before the last of its output has been read.
  const outputEnded = new Promise<void>((resolve) => sink.stdout!.once('close', () => resolve()))
  const feeding = pipeline(previous!.stdout!, recordCounter(spec.onRecords), sink.stdin!).catch(() => {
    // The sink went away (or the chain's end failed): its own exit status
    // says why; make sure the chain's end sees EPIPE rather than a stall.
    previous!.stdout!.destroy()
  })
  const exits = await Promise.all(children.map((c) => c.exit))
  await feeding
  await outputEnded
  spec.signal.removeEventListener('abort', onAbort)
  return { exits, sinkRecords: await parseSinkOutput(Buffer.concat(output)) }
}

type StdioSpec = ('pipe' | 'ignore' | 'inherit' | NodeJS.ReadableStream | number)[]

/** A stage process and how it will end. */
export interface SpawnedStage {
  child: ChildProcess
  exit: Promise<StageExit>
}

/** Starts `bin/<name>.js` with Node and its flags, as the bin file itself would; its stderr goes to `stderr` (or is inherited). */
export function spawnStage(command: StageCommand, stdio: StdioSpec, env: NodeJS.ProcessEnv, stderr: 'inherit' | Writable): SpawnedStage {
  const child = spawn(process.execPath, [...NODE_START_FLAGS, stageBin(command.name), ...command.args], { env, stdio: stdio as never })
  if (stderr !== 'inherit') child.stderr?.on('data', (chunk: Buffer) => stderr.write(chunk))
  const exit = new Promise<StageExit>((resolve) => {
    child.once('error', (err) => resolve({ name: command.name, status: null, signal: null, spawnError: err.message }))
    child.once('exit', (status, signal) => resolve({ name: command.name, status, signal }))
  })
  return { child, exit }
}

/** SIGTERM to a stage process that is still running. */
export function terminate(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM')
}

/** The sink's output records; what cannot be parsed is left out (its exit status tells). */
async function parseSinkOutput(output: Buffer): Promise<Rec[]> {
  const records: Rec[] = []
  try {
    for await (const rec of new RecordReader(Readable.from([output]), { source: 'sysbackup-manifest output' })) records.push(rec)
  } catch {
    // A cut-off or empty output: keep what was read.
  }
  return records
}

/** Passes bytes through unchanged, reporting the count of newline-ended records. */
function recordCounter(onRecords: ((count: number) => void) | undefined): Transform {
  let count = 0
  return new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      if (onRecords) {
        for (let at = chunk.indexOf(0x0a); at >= 0; at = chunk.indexOf(0x0a, at + 1)) count++
        onRecords(count)
      }
      callback(null, chunk)
    },
  })
}
