import { pipeline } from 'node:stream/promises'
import type { Writable } from 'node:stream'
import type { Rec } from './records.js'

/** The one place records become lines: compact JSON and `\n`. */
export function formatRecord(rec: Rec): string {
  return recordLine(rec) + '\n'
}

/** A record's line without its `\n` (compact JSON), for those that add their own separator. */
export function recordLine(rec: Rec): string {
  return JSON.stringify(rec)
}

/**
 * Serializes records as NDJSON text chunks. Records that are already
 * available are joined into chunks of up to `chunkBytes`, so a fast stage
 * does not pay one write per record; a slow one still sees each record
 * promptly, because a chunk is released whenever the source has to wait.
 */
export function serializeRecords(records: AsyncIterable<Rec>, chunkBytes = 64 * 1024): AsyncGenerator<string> {
  return joinReady(records, formatRecord, chunkBytes)
}

/**
 * serializeRecords for any items, each made text by `format`: items that
 * are already available are joined into chunks of up to `chunkBytes`
 * characters; a chunk is released whenever the source has to wait.
 */
export async function* joinReady<T>(items: AsyncIterable<T>, format: (item: T) => string, chunkBytes = 64 * 1024): AsyncGenerator<string> {
  const iterator = items[Symbol.asyncIterator]()
  let chunk = ''
  for (;;) {
    let settled = false
    const next = iterator.next().then((result) => {
      settled = true
      return result
    })
    // A record the source already has arrives within a few microtask turns
    // (one per generator layer); one that needs I/O does not.
    for (let turn = 0; turn < READY_TURNS && !settled; turn++) await undefined
    if (!settled && chunk !== '') {
      yield chunk
      chunk = ''
    }
    const result = await next
    if (result.done) break
    chunk += format(result.value)
    if (chunk.length >= chunkBytes) {
      yield chunk
      chunk = ''
    }
  }
  if (chunk !== '') yield chunk
}

/**
 * Microtask turns to wait for a ready record before flushing. Each async
 * generator between the source and here costs about three turns, and a
 * stage stacks six or more (sysbackup-hash: reader, concurrency window,
 * stage, runner); with too few turns every record became its own write.
 * Spinning costs a few microseconds only when the source really waits.
 */
const READY_TURNS = 64

/**
 * Resolves once every record a source has handed to serializeRecords, as
 * it runs in writeRecords(…, out), has been accepted by `out` (for a pipe:
 * is in the kernel, where a SIGKILL of this process cannot take it back).
 * For the source to call before a side effect that must not come before
 * the record it yielded last.
 */
export async function recordsWritten(out: Writable): Promise<void> {
  // Waiting is what makes serializeRecords release the chunk it holds, and
  // the pipeline hands that chunk to out.write() within microtask turns:
  // a macrotask later it has.
  await new Promise(setImmediate)
  // Writes complete in order, so this empty one completes after that chunk.
  // An error is not ours to report: writeRecords rejects with it.
  await new Promise<void>((resolve) => out.write('', () => resolve()))
}

/**
 * Writes records to `out` with backpressure, resolving when all are
 * flushed. Rejects with the stream's error (EPIPE included).
 */
export async function writeRecords(records: AsyncIterable<Rec>, out: Writable): Promise<void> {
  await pipeline(serializeRecords(records), out)
}
