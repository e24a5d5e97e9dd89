import { Writable } from 'node:stream'
import type { Rec } from '../protocol/records.js'

/** Bytes as people read them: 1.5 GiB, 300 KiB, 12 B. */
export function humanBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return unit === 0 ? `${n} B` : `${value.toFixed(value < 10 ? 1 : 0)} ${units[unit]}`
}

/** Redraws at most this often on a terminal. */
const REDRAW_MS = 100

/**
 * Progress of a restore for a person. On a terminal: one line on stderr,
 * rewritten in place (entries done of the total, bytes, failures); any
 * message written through `stderr` clears it first and it is drawn again
 * after. Elsewhere (a log, a pipe): a plain line at every tenth of the
 * total (or every 10,000 entries when the total is unknown).
 */
export class RestoreProgress {
  done = 0
  bytes = 0
  failed = 0
  private shown = false
  private lastDraw = Number.NEGATIVE_INFINITY
  private nextMark: number
  /** Write messages here, not to the real stderr, so they do not collide with the progress line. */
  readonly stderr: Writable

  constructor(private readonly out: Writable & { isTTY?: boolean }, private readonly total: number | undefined, private readonly now: () => number = Date.now) {
    this.nextMark = this.step()
    this.stderr = new Writable({
      write: (chunk: Buffer | string, _enc, callback) => {
        this.clear()
        out.write(chunk)
        this.draw(true)
        callback()
      },
    })
  }

  private get tty(): boolean {
    return this.out.isTTY === true
  }

  private step(): number {
    return this.total !== undefined && this.total > 0 ? Math.max(1, Math.ceil(this.total / 10)) : 10_000
  }

  /** Counts one record of the restore. */
  note(rec: Rec): void {
    if (rec.type !== 'restore') return
    this.done++
    if (rec.action === 'failed') this.failed++
    if (typeof rec.size === 'number' && rec.action !== 'skipped' && rec.action !== 'would-write') this.bytes += rec.size
    if (this.tty) {
      this.draw(false)
    } else if (this.done >= this.nextMark) {
      this.out.write(`${this.line()}\n`)
      this.nextMark += this.step()
    }
  }

  private line(): string {
    const of = this.total !== undefined ? ` of ${this.total}` : ''
    return `restored ${this.done}${of} entries, ${humanBytes(this.bytes)}${this.failed > 0 ? `, ${this.failed} failed` : ''}`
  }

  private draw(force: boolean): void {
    if (!this.tty) return
    const t = this.now()
    if (!force && t - this.lastDraw < REDRAW_MS) return
    this.lastDraw = t
    this.out.write(`\r\x1b[K${this.line()}`)
    this.shown = true
  }

  private clear(): void {
    if (this.shown) this.out.write('\r\x1b[K')
    this.shown = false
  }

  /** Removes the progress line, for the summary. */
  finish(): void {
    this.clear()
  }
}
