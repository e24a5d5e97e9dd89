import { isUtf8 } from 'node:buffer'
import { createHash } from 'node:crypto'
import type { Writable } from 'node:stream'
import type { StageContext } from '../../cli/stage.js'
import type { Rec, SnapshotRecord } from '../../protocol/records.js'
import { StoreError } from '../../store/errors.js'
import type { LockMode, Store } from '../../store/store.js'
import { errnoText } from '../../util/errno-text.js'
import { GroupProcess, KILL_GRACE_MS, type ProcessOutcome } from '../../util/process-group.js'
import type { Program } from '../../util/programs-dir.js'
import { DESCRIPTION_LIMIT, DescriptionCollector, type Description } from './description.js'
import { snapshotMetadata } from './snapshot-metadata.js'

/** The descriptor number a snapshotter is told to write its snapshot to. */
export const SNAPSHOT_FD = 3

export interface SnapshotSettings {
  store: Store
  /** `snapshots/<host>/<timestamp>-`; the snapshotter's name completes the key. */
  keyPrefix: string
  lockMode: LockMode
  /** R: snapshots are not reused by later runs, so they are retained exactly this long. */
  retainUntil: Date
  /** Per snapshotter; 0 for no limit. */
  timeoutSeconds: number
  /**
   * A snapshot up to this many bytes is read whole before it is stored, so
   * its object metadata has everything (description, restore command,
   * sha256, size) in one PutObject. A bigger one is streamed as it comes:
   * its metadata has what was printed before this many bytes were written.
   * Equal to the store's part size, so the first case costs what the store
   * would spend anyway.
   */
  holdBytes: number
  env: NodeJS.ProcessEnv
  stderr: Writable
}

/**
 * Runs one snapshotter and stores what it writes to fd 3 at
 * `keyPrefix + name`, locked until R, while hashing and counting it.
 * Returns the records to emit: a `snapshot` record when it was stored,
 * else an `error` naming the snapshotter and how it ended (exit status,
 * signal, timeout, or the store's refusal), and any warnings. Nothing is
 * stored unless the program exited with status 0: a failed multipart
 * upload is abandoned, so its partial output never becomes an object.
 *
 * A StoreFatalError is thrown (the run stops). When ctx.signal aborts, the
 * program is killed, nothing is stored, and there are no records: the
 * runner reports the interruption.
 */
export async function takeSnapshot(ctx: StageContext, program: Program, settings: SnapshotSettings): Promise<Rec[]> {
  const key = settings.keyPrefix + program.name
  const startedAt = new Date()
  const run = new GroupProcess(program.path, {
    args: [String(SNAPSHOT_FD)],
    extraOutputs: 1,
    timeoutSeconds: settings.timeoutSeconds,
    graceMs: KILL_GRACE_MS,
    env: settings.env,
    stderr: settings.stderr,
    signal: ctx.signal,
  })
  const said = new DescriptionCollector()
  run.collect(1, (chunk) => said.push(chunk))
  const hash = createHash('sha256')
  let size = 0
  let sha256: string | undefined
  const digest = () => sha256 ??= hash.digest('hex')
  const snapshot = (async function* () {
    for await (const chunk of run.output(SNAPSHOT_FD)) {
      hash.update(chunk)
      size += chunk.length
      yield chunk
    }
  })()

  let outcome: ProcessOutcome | undefined
  const finish = async (): Promise<boolean> => {
    outcome = await run.outcome()
    return succeeded(outcome)
  }
  const common = { lockMode: settings.lockMode, retainUntil: settings.retainUntil, contentType: 'application/octet-stream' }
  let stored: { versionId: string } | null
  let inMetadata: Description | undefined
  try {
    const held = await hold(snapshot, settings.holdBytes)
    if (held.complete) {
      if (!(await finish())) return failure(ctx, program, outcome!, settings.timeoutSeconds)
      const facts = said.current(true)
      inMetadata = facts
      stored = await settings.store.putBuffer(key, held.bytes, {
        ...common, metadata: snapshotMetadata({ ...factsOf(facts), sha256: digest(), size }),
      })
    } else {
      // Too big to wait for: what it has said so far goes into the metadata.
      inMetadata = said.current(false)
      stored = await settings.store.putStream(key, prepend(held.chunks, snapshot), {
        ...common, metadata: snapshotMetadata(factsOf(inMetadata)), beforeComplete: finish, signal: ctx.signal,
      })
      if (stored === null) return failure(ctx, program, outcome!, settings.timeoutSeconds)
    }
  } catch (err) {
    run.stop()
    await run.outcome()
    // Stopped from outside: the runner reports the interruption.
    if (ctx.signal.aborted) return []
    if (!(err instanceof StoreError)) throw err
    return [ctx.problem('error', `snapshot not stored: ${err.message}`, { path: program.path, ...(err.code && { code: err.code }) })]
  }

  const facts = said.current(true)
  ctx.count('snapshots')
  ctx.count('bytes', size)
  const rec: SnapshotRecord = {
    type: 'snapshot',
    name: program.name,
    key,
    versionId: stored.versionId,
    size,
    sha256: digest(),
    ...textFields('description', facts.description),
    ...(facts.restoreThrough !== undefined && textFields('restoreThrough', facts.restoreThrough)),
    retainUntil: settings.retainUntil.toISOString(),
    program: program.path,
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
  }
  const records: Rec[] = [rec]
  if (size === 0) records.push(ctx.problem('warning', `the snapshot is empty (0 bytes); stored as ${key} all the same`, { path: program.path }))
  if (facts.truncated) {
    records.push(ctx.problem('warning', `description longer than ${DESCRIPTION_LIMIT} bytes; the rest was dropped`, { path: program.path }))
  }
  if (facts.restoreTruncated) {
    records.push(ctx.problem('warning', `::restore-through:: line longer than ${DESCRIPTION_LIMIT} bytes; it was cut short`, { path: program.path }))
  }
  if (inMetadata !== undefined && !sameFacts(inMetadata, facts)) {
    records.push(ctx.problem('warning',
      `the snapshot was streamed before the program had finished printing its description; the object's metadata lacks what came later (the manifest has all of it: print the description before the snapshot)`,
      { path: program.path }))
  }
  return records
}

/**
 * Reads `source` until it ends or more than `limit` bytes have come.
 * `complete`: it ended, and `bytes` is all of it; otherwise `chunks` is
 * what was read, and the rest is still in `source`.
 */
async function hold(source: AsyncGenerator<Buffer>, limit: number): Promise<{ complete: true, bytes: Buffer } | { complete: false, chunks: Buffer[] }> {
  const chunks: Buffer[] = []
  let bytes = 0
  for (;;) {
    const next = await source.next()
    if (next.done) return { complete: true, bytes: Buffer.concat(chunks) }
    chunks.push(next.value)
    bytes += next.value.length
    if (bytes > limit) return { complete: false, chunks }
  }
}

async function* prepend(first: Buffer[], rest: AsyncGenerator<Buffer>): AsyncGenerator<Buffer> {
  try {
    // Handed on one by one and let go of, so they are not held twice.
    while (first.length > 0) yield first.shift()!
    for (;;) {
      const next = await rest.next()
      if (next.done) return
      yield next.value
    }
  } finally {
    await rest.return(undefined)
  }
}

function succeeded(outcome: ProcessOutcome): boolean {
  return outcome.spawnError === undefined && !outcome.timedOut && !outcome.aborted && outcome.signal === null && outcome.status === 0
}

/** The error record for a snapshotter that did not succeed; none when we stopped it ourselves. */
function failure(ctx: StageContext, program: Program, outcome: ProcessOutcome, timeoutSeconds: number): Rec[] {
  if (outcome.aborted) return []
  ctx.count('failed')
  const problem = ((): { message: string, code?: string } => {
    if (outcome.spawnError) {
      const code = outcome.spawnError.code ?? 'EIO'
      return { message: `cannot run snapshotter: ${errnoText(code)}`, code }
    }
    if (outcome.timedOut) return { message: `snapshotter did not finish within ${timeoutSeconds} seconds and was killed`, code: 'ETIMEDOUT' }
    if (outcome.signal !== null) return { message: `snapshotter was killed by ${outcome.signal}` }
    return { message: `snapshotter exited with status ${outcome.status}` }
  })()
  return [ctx.problem('error', `${problem.message}; no snapshot was stored`, { path: program.path, ...(problem.code && { code: problem.code }) })]
}

function factsOf(d: Description): { description: Buffer, restoreThrough?: Buffer } {
  return d.restoreThrough === undefined ? { description: d.description } : { description: d.description, restoreThrough: d.restoreThrough }
}

function sameFacts(a: Description, b: Description): boolean {
  const same = (x: Buffer | undefined, y: Buffer | undefined) => x === undefined ? y === undefined : y !== undefined && x.equals(y)
  return a.description.equals(b.description) && same(a.restoreThrough, b.restoreThrough)
}

/**
 * A text field of a record from bytes: `{[name]: text}`, plus
 * `{[name + 'B64']: base64}` with the exact bytes when they are not valid
 * UTF-8 (the text then has U+FFFD where the bytes were not).
 */
function textFields<N extends string>(name: N, bytes: Buffer): { [K in N]: string } {
  const out: Record<string, string> = { [name]: bytes.toString('utf8') }
  if (!isUtf8(bytes)) out[name + 'B64'] = bytes.toString('base64')
  return out as { [K in N]: string }
}
