import { pipeline } from 'node:stream/promises'
import type { Writable } from 'node:stream'
import type { Rec } from './records.js'

/** The one place records become lines: compact JSON and `\n`. */
export function formatRecord(rec: Rec): string {
  return JSON.stringify(rec) + '\n'
}

/**
 * Serializes records as NDJSON text chunks. Records that are already
 * available are joined into chunks of up to `chunkBytes`, so a fast stage
 * does not pay one write per record; a slow one still sees each record
 * promptly, because a chunk is released whenever the source has to wait.
 */
export async function* serializeRecords(records: AsyncIterable<Rec>, chunkBytes = 64 * 1024): AsyncGenerator<string> {
  const iterator = records[Symbol.asyncIterator]()
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
    chunk += formatRecord(result.value)
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
 * Writes records to `out` with backpressure, resolving when all are
 * flushed. Rejects with the stream's error (EPIPE included).
 */
export async function writeRecords(records: AsyncIterable<Rec>, out: Writable): Promise<void> {
  await pipeline(serializeRecords(records), out)
}
