import { createReadStream } from 'node:fs'
import { open, type FileHandle } from 'node:fs/promises'
import { splitLines } from '../../protocol/line-splitter.js'
import { MAX_LINE_BYTES } from '../../protocol/read-records.js'
import type { SpillDir } from './spill-dir.js'

/** Lines in a spill file are at most a record line plus a sort key: this is far above both. */
export const MAX_SPILL_LINE_BYTES = 4 * MAX_LINE_BYTES

/** Bytes of text written to a spill file per write call. */
const WRITE_CHUNK_BYTES = 1 << 20

/**
 * Writes `lines` (without their newlines) to `handle`, each ended by a
 * newline, in chunks of about a megabyte.
 */
export async function writeLines(handle: FileHandle, lines: readonly string[]): Promise<void> {
  let chunk = ''
  for (const line of lines) {
    chunk += line + '\n'
    if (chunk.length >= WRITE_CHUNK_BYTES) {
      await handle.write(chunk)
      chunk = ''
    }
  }
  if (chunk !== '') await handle.write(chunk)
}

/** The lines of a spill file, without their newlines, read with a small buffer. */
export async function* readLines(path: string): AsyncGenerator<string> {
  const stream = createReadStream(path, { highWaterMark: 64 * 1024 })
  try {
    for await (const line of splitLines(stream, MAX_SPILL_LINE_BYTES)) yield line.bytes.toString('utf8')
  } finally {
    stream.destroy()
  }
}

/**
 * An append-only list of lines that keeps up to `memoryBytes` of them in
 * memory and moves them to a spill file beyond that, so a run with a
 * million warnings does not hold them all. Lines come back in the order
 * they were added.
 */
export class LineSpool {
  /** Lines added so far. */
  count = 0
  private pending: string[] = []
  private pendingBytes = 0
  private handle: FileHandle | undefined
  private path: string | undefined

  constructor(private readonly dir: SpillDir, private readonly name: string, private readonly memoryBytes = 1 << 20) {}

  async add(line: string): Promise<void> {
    this.count++
    this.pending.push(line)
    this.pendingBytes += line.length
    if (this.pendingBytes >= this.memoryBytes) await this.flush()
  }

  /** Every line added, in order. Call once, after the last add. */
  async *lines(): AsyncGenerator<string> {
    if (this.handle === undefined) {
      for (const line of this.pending) yield line
      return
    }
    await this.flush()
    await this.handle.close()
    this.handle = undefined
    yield* readLines(this.path!)
  }

  private async flush(): Promise<void> {
    const lines = this.pending
    this.pending = []
    this.pendingBytes = 0
    if (this.handle === undefined) {
      this.path = await this.dir.file(this.name)
      this.handle = await open(this.path, 'wx', 0o600)
    }
    await writeLines(this.handle, lines)
  }

  /** Closes the spill file, if one is open (the SpillDir removes it). */
  async close(): Promise<void> {
    await this.handle?.close()
    this.handle = undefined
  }
}
