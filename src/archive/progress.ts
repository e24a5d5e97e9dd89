import type { Writable } from 'node:stream'
import { thousands } from '../util/thousands.js'

/** A progress line for a terminal: redrawn in place, at most a few times a second. */
export interface ProgressReporter {
  update(records: number): void
  /** Clears the line. */
  done(): void
}

const REDRAW_MS = 250

/**
 * Shows `archive: N records through upload, M:SS` on one line of `out`,
 * redrawn in place. When disabled (not a terminal, or --no-progress) it
 * prints nothing: journald gets only the stages' own messages and the
 * closing summary.
 */
export function progressReporter(out: Writable, options: { enabled: boolean, now?: () => number }): ProgressReporter {
  const now = options.now ?? Date.now
  const started = now()
  let lastDraw = 0
  let drawn = false
  return {
    update(records) {
      if (!options.enabled) return
      const t = now()
      if (t - lastDraw < REDRAW_MS) return
      lastDraw = t
      const seconds = Math.floor((t - started) / 1000)
      const clock = `${Math.floor(seconds / 60)}:${String(seconds % 60).padStart(2, '0')}`
      out.write(`\r\x1b[Karchive: ${thousands(records)} records through upload, ${clock}`)
      drawn = true
    },
    done() {
      if (drawn) out.write('\r\x1b[K')
    },
  }
}
