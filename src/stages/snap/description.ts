/** The most of a snapshotter's standard output kept as its description, in bytes. */
export const DESCRIPTION_LIMIT = 64 * 1024

/** Marks the line of standard output that gives the restore command. */
export const RESTORE_PREFIX = Buffer.from('::restore-through::')

const NEWLINE = 0x0a

/** What a snapshotter said about its snapshot on standard output. */
export interface Description {
  /**
   * Every line but the `::restore-through::` ones, exactly as printed (any
   * bytes), trailing newlines dropped; at most DESCRIPTION_LIMIT bytes.
   */
  description: Buffer
  /** The last `::restore-through::` line, without the prefix, the blanks after it and a trailing CR. */
  restoreThrough?: Buffer
  /** The description was longer than DESCRIPTION_LIMIT and was cut there. */
  truncated: boolean
  /** The restore line was longer than DESCRIPTION_LIMIT and was cut there. */
  restoreTruncated: boolean
}

/**
 * Splits a snapshotter's standard output, as it arrives, into its
 * description and its restore command. Memory stays bounded whatever the
 * program prints: at most DESCRIPTION_LIMIT bytes of description and as
 * much of one line.
 */
export class DescriptionCollector {
  private readonly kept: Buffer[] = []
  private keptBytes = 0
  private truncated = false
  private restoreThrough: Buffer | undefined
  private restoreTruncated = false
  private line: Buffer[] = []
  private lineBytes = 0
  private lineOverflow = false

  push(chunk: Buffer): void {
    let start = 0
    for (;;) {
      const end = chunk.indexOf(NEWLINE, start)
      if (end < 0) break
      this.addToLine(chunk.subarray(start, end))
      this.finishLine()
      start = end + 1
    }
    if (start < chunk.length) this.addToLine(chunk.subarray(start))
  }

  /**
   * The description in full, once the output has ended (`final`); before
   * that, what the complete lines so far say.
   */
  current(final: boolean): Description {
    const pending = final && (this.lineBytes > 0 || this.lineOverflow) ? this.pendingLine() : null
    const parts = [...this.kept]
    let restoreThrough = this.restoreThrough
    let restoreTruncated = this.restoreTruncated
    let truncated = this.truncated
    if (pending !== null) {
      if (pending.restore) {
        restoreThrough = pending.bytes
        restoreTruncated = pending.overflow
      } else {
        const room = DESCRIPTION_LIMIT - this.keptBytes
        const take = pending.bytes.length <= room ? pending.bytes : cutAtCharacter(pending.bytes, room)
        parts.push(take)
        if (take.length < pending.bytes.length || pending.overflow) truncated = true
      }
    }
    const out: Description = { description: trimTrailingNewlines(Buffer.concat(parts)), truncated, restoreTruncated }
    if (restoreThrough !== undefined) out.restoreThrough = restoreThrough
    return out
  }

  private addToLine(piece: Buffer): void {
    if (piece.length === 0 || this.lineOverflow) return
    // A line is kept up to the limit plus room for the prefix; the rest is skipped.
    const room = DESCRIPTION_LIMIT + RESTORE_PREFIX.length - this.lineBytes
    const take = piece.length <= room ? piece : piece.subarray(0, room)
    this.line.push(Buffer.from(take)) // a copy: the stream may reuse its chunk
    this.lineBytes += take.length
    if (take.length < piece.length) this.lineOverflow = true
  }

  private pendingLine(): { bytes: Buffer, restore: boolean, overflow: boolean } {
    const bytes = Buffer.concat(this.line)
    if (startsWith(bytes, RESTORE_PREFIX)) {
      let command = bytes.subarray(RESTORE_PREFIX.length)
      let from = 0
      while (from < command.length && (command[from] === 0x20 || command[from] === 0x09)) from++
      command = command.subarray(from)
      if (command.at(-1) === 0x0d) command = command.subarray(0, -1)
      const overflow = this.lineOverflow || command.length > DESCRIPTION_LIMIT
      return { bytes: overflow ? cutAtCharacter(command, DESCRIPTION_LIMIT) : command, restore: true, overflow }
    }
    return { bytes, restore: false, overflow: this.lineOverflow }
  }

  private finishLine(): void {
    const pending = this.pendingLine()
    this.line = []
    this.lineBytes = 0
    this.lineOverflow = false
    if (pending.restore) {
      this.restoreThrough = pending.bytes
      this.restoreTruncated = pending.overflow
      return
    }
    if (pending.overflow) this.truncated = true
    const bytes = Buffer.concat([pending.bytes, NEWLINE_BUFFER])
    const room = DESCRIPTION_LIMIT - this.keptBytes
    if (room <= 0) {
      if (bytes.length > 0) this.truncated = true
      return
    }
    const take = bytes.length <= room ? bytes : cutAtCharacter(bytes, room)
    if (take.length < bytes.length) this.truncated = true
    this.kept.push(take)
    this.keptBytes += take.length
  }
}

const NEWLINE_BUFFER = Buffer.from('\n')

function startsWith(bytes: Buffer, prefix: Buffer): boolean {
  return bytes.length >= prefix.length && bytes.subarray(0, prefix.length).equals(prefix)
}

/**
 * The first `limit` bytes of `bytes`, shortened so as not to end inside a
 * UTF-8 sequence (when the text is UTF-8; other bytes are cut where they fall).
 */
export function cutAtCharacter(bytes: Buffer, limit: number): Buffer {
  if (bytes.length <= limit) return bytes
  let end = limit
  // Back off over continuation bytes (10xxxxxx) to the start of the character, at most 3.
  for (let i = 0; i < 3 && end > 0 && (bytes[end]! & 0xc0) === 0x80; i++) end--
  return bytes.subarray(0, end)
}

function trimTrailingNewlines(bytes: Buffer): Buffer {
  let end = bytes.length
  while (end > 0 && (bytes[end - 1] === NEWLINE || bytes[end - 1] === 0x0d)) end--
  return bytes.subarray(0, end)
}
