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
 * Set while the heap is still a few MB, before any full collection: the
 * flag is read at each collection, so this acts as the command-line flag
 * would (every bin file imports this module first, through bin.js). A
 * `--heap-growing-percent` given to node itself is left as it is.
 */
if (!process.execArgv.some((arg) => arg.startsWith('--heap-growing-percent'))) {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}
