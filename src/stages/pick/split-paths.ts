/** How the paths in a stream of bytes are separated. */
export type Separator = 'auto' | 'nul' | 'newline'

/**
 * The longest path kept: PATH_MAX (4096) less its terminating NUL. Longer
 * lines cannot name a file through a system call, so they are garbage.
 */
export const MAX_PATH_BYTES = 4095

const NUL = 0x00
const NEWLINE = 0x0a
const EMPTY = Buffer.alloc(0)

/**
 * Splits a byte stream (a picker's standard output, or ours with --stdin)
 * into paths, chunk by chunk, never decoding them: each path is the exact
 * bytes between two separators.
 *
 * In `auto` mode the first separator byte that appears, newline or NUL,
 * decides for the whole stream, so `find -print` and `find -print0` both
 * work. Empty paths are dropped. A line longer than MAX_PATH_BYTES is
 * dropped without being held in memory, and counted in `overlong`.
 */
export class PathSplitter {
  /** Lines dropped because they were longer than MAX_PATH_BYTES. */
  overlong = 0
  private separator: number | undefined
  private pending: Buffer[] = []
  private pendingBytes = 0
  /** Inside an overlong line: bytes are skipped up to the next separator. */
  private skipping = false

  constructor(mode: Separator) {
    if (mode === 'nul') this.separator = NUL
    else if (mode === 'newline') this.separator = NEWLINE
  }

  /** The separator in use: `newline`, `nul`, or `undecided` while none has appeared. */
  get mode(): 'newline' | 'nul' | 'undecided' {
    return this.separator === undefined ? 'undecided' : this.separator === NUL ? 'nul' : 'newline'
  }

  /** The paths completed by `chunk`. They may share memory with it. */
  push(chunk: Buffer): Buffer[] {
    const paths: Buffer[] = []
    if (this.separator === undefined) {
      const newline = chunk.indexOf(NEWLINE)
      const nul = chunk.indexOf(NUL)
      if (newline < 0 && nul < 0) {
        this.keep(chunk, 0)
        return paths
      }
      this.separator = newline < 0 || (nul >= 0 && nul < newline) ? NUL : NEWLINE
    }
    const separator = this.separator
    let start = 0
    for (;;) {
      const end = chunk.indexOf(separator, start)
      if (end < 0) break
      this.take(chunk.subarray(start, end), paths)
      start = end + 1
    }
    if (start < chunk.length) this.keep(chunk, start)
    return paths
  }

  /** The last path, when the stream did not end with a separator. */
  end(): Buffer[] {
    const paths: Buffer[] = []
    if (this.pendingBytes > 0 || this.skipping) this.take(EMPTY, paths)
    return paths
  }

  private take(piece: Buffer, paths: Buffer[]): void {
    let path = piece
    if (this.skipping) {
      this.skipping = false
      this.overlong++
      return
    }
    if (this.pendingBytes > 0) {
      path = Buffer.concat([...this.pending, piece])
      this.pending = []
      this.pendingBytes = 0
    }
    if (path.length === 0) return
    if (path.length > MAX_PATH_BYTES) {
      this.overlong++
      return
    }
    paths.push(path)
  }

  private keep(chunk: Buffer, start: number): void {
    if (this.skipping) return
    // Copied: the caller may reuse the chunk's memory.
    const rest = Buffer.from(chunk.subarray(start))
    this.pending.push(rest)
    this.pendingBytes += rest.length
    if (this.pendingBytes > MAX_PATH_BYTES) {
      this.pending = []
      this.pendingBytes = 0
      this.skipping = true
    }
  }
}
