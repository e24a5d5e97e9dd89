/** What feeding input to a HiddenLineEditor led to. */
export type LineState = 'more' | 'done' | 'interrupt' | 'eof' | 'too-long'

const CR = 0x0d
const LF = 0x0a
const CTRL_C = 0x03
const CTRL_D = 0x04
const CTRL_U = 0x15
const BS = 0x08
const DEL = 0x7f
const ESC = 0x1b

/**
 * The line editing of a password prompt whose terminal is in raw mode (no
 * echo, no kernel line editing): Enter ends the line, Backspace removes
 * the last character (a whole UTF-8 sequence), Ctrl-U clears the line,
 * Ctrl-C interrupts, Ctrl-D on an empty line is end of input; escape
 * sequences (arrow keys, bracketed-paste markers) and other control
 * characters are ignored. Bytes live in one fixed buffer that is zeroed as
 * they are removed, taken or wiped, so no copy of the password is left
 * behind in it.
 */
export class HiddenLineEditor {
  private readonly buf: Buffer
  private length = 0
  /** 0: normal; 1: after ESC; 2: inside a CSI/SS3 sequence. */
  private escape = 0

  constructor(readonly maxBytes: number) {
    this.buf = Buffer.alloc(maxBytes)
  }

  /**
   * Processes keystrokes. Returns 'done' at Enter (input after it in the
   * same chunk is ignored), 'interrupt' at Ctrl-C, 'eof' at Ctrl-D on an
   * empty line, 'too-long' when the line exceeds maxBytes, else 'more'.
   */
  feed(chunk: Uint8Array): LineState {
    for (const byte of chunk) {
      if (this.escape === 1) {
        // ESC [ and ESC O open a sequence; ESC followed by anything else (Alt+key) is dropped whole.
        this.escape = byte === 0x5b || byte === 0x4f ? 2 : 0
        continue
      }
      if (this.escape === 2) {
        if (byte >= 0x40 && byte <= 0x7e) this.escape = 0 // the final byte of the sequence
        continue
      }
      switch (byte) {
        case CR:
        case LF:
          return 'done'
        case CTRL_C:
          return 'interrupt'
        case CTRL_D:
          if (this.length === 0) return 'eof'
          continue
        case CTRL_U:
          this.buf.fill(0, 0, this.length)
          this.length = 0
          continue
        case BS:
        case DEL:
          this.backspace()
          continue
        case ESC:
          this.escape = 1
          continue
      }
      if (byte < 0x20) continue
      if (this.length >= this.maxBytes) return 'too-long'
      this.buf[this.length++] = byte
    }
    return 'more'
  }

  /** A copy of the line so far; the editor is wiped. The caller zeroes the copy when done. */
  take(): Buffer {
    const line = Buffer.alloc(this.length)
    this.buf.copy(line, 0, 0, this.length)
    this.wipe()
    return line
  }

  /** Zeroes everything typed. */
  wipe(): void {
    this.buf.fill(0)
    this.length = 0
    this.escape = 0
  }

  private backspace(): void {
    if (this.length === 0) return
    // Step back over UTF-8 continuation bytes (10xxxxxx) to the start of the character.
    let start = this.length - 1
    while (start > 0 && (this.buf[start]! & 0xc0) === 0x80) start--
    this.buf.fill(0, start, this.length)
    this.length = start
  }
}
