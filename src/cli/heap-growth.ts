import { setFlagsFromString } from 'node:v8'

/**
 * How far V8 lets the heap grow past what the last full collection kept,
 * in percent: 50 lets it grow to 1.5 times that. Left to itself V8 picks a
 * factor of up to 4 when collections look cheap, and a run's per-record
 * garbage then piles up: an unchanged run of 100,000 files kept about 80 MB
 * live but peaked at 250 MB of heap and 400 MB resident. At 50 it peaked
 * at 280 MB resident for 2–4% more wall time (bench/daily.ts, measured
 * side by side; 20,000 files: 191 → 174 MB).
 */
export const HEAP_GROWING_PERCENT = 50

/**
 * The same for a restore, which keeps little live beside its manifest's
 * entries and makes garbage with every file it writes: at 50 its
 * collections took a tenth of its main thread. 20,000-file restore from a
 * local store into tmpfs, side by side: median 12.6 s at 100 against 14.4
 * s at 50 (3 pairs, each faster; user CPU 12.6 s against 15.5), peak RSS 3
 * to 6 MB higher; 100,000 files: 55.5 s against 60.0, RSS 289 MB against
 * 257 (a restore has no memory target; the daily runs keep 50).
 */
export const RESTORE_HEAP_GROWING_PERCENT = 100

const givenToNode = process.execArgv.some((arg) => arg.startsWith('--heap-growing-percent'))
let current = givenToNode ? undefined : HEAP_GROWING_PERCENT

/**
 * Sets the heap's growth factor from the next collection on (V8 reads the
 * flag at each one), unless node itself was given `--heap-growing-percent`,
 * which is left as it is.
 */
export function setHeapGrowingPercent(percent: number): void {
  if (givenToNode) return
  setFlagsFromString(`--heap-growing-percent=${percent}`)
  current = percent
}

/** The factor this module last set; undefined when node was given its own. */
export function heapGrowingPercent(): number | undefined {
  return current
}

// Set while the heap is still a few MB, before any full collection: every
// bin file imports this module first, through bin.js, so this acts as the
// command-line flag would.
setHeapGrowingPercent(HEAP_GROWING_PERCENT)
