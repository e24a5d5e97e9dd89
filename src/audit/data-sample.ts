import { createHash, randomBytes } from 'node:crypto'
import { UsageError } from '../cli/errors.js'

/**
 * Which referenced objects `--read-data` downloads: all, a share chosen at
 * random (`N%`, as restic's `check --read-data-subset N%`), or one of M
 * fixed parts (`N/M`, restic's form: running 1/M … M/M in turn reads
 * everything once). The choice is a pure function of the key (and, for
 * `N%`, the seed), so it is the same across manifests and runs with the
 * same seed.
 */
export interface DataSample {
  /** `all`, `12.5%`, `2/7`, for the summary. */
  readonly text: string
  includes(key: string): boolean
}

export const ALL_DATA: DataSample = { text: 'all', includes: () => true }

const PERCENT = /^(\d+(?:\.\d+)?)%$/
const PART = /^(\d+)\/(\d+)$/

/**
 * Parses `--read-data-subset`. `seed` (any text; default random) decides
 * which keys an `N%` sample takes; `N/M` needs none.
 */
export function parseDataSample(text: string, seed: string = randomBytes(8).toString('hex')): DataSample {
  const pct = PERCENT.exec(text)
  if (pct !== null) {
    const share = Number(pct[1]) / 100
    if (!(share > 0 && share <= 1)) throw new UsageError(`option --read-data-subset: "${text}" is not a share from 0% (excluded) to 100%`)
    return { text, includes: (key) => position(`${seed}\0${key}`) < share }
  }
  const part = PART.exec(text)
  if (part !== null) {
    const n = Number(part[1])
    const m = Number(part[2])
    if (!(m >= 1 && n >= 1 && n <= m)) throw new UsageError(`option --read-data-subset: "${text}": N/M needs 1 <= N <= M`)
    return { text, includes: (key) => Math.floor(position(key) * m) === n - 1 }
  }
  throw new UsageError(`option --read-data-subset: "${text}" is neither N% (e.g. 10%) nor N/M (e.g. 1/5)`)
}

/** A number in [0, 1) spread evenly over texts: 52 bits of their SHA-256. */
function position(text: string): number {
  const digest = createHash('sha256').update(text).digest()
  return (digest.readUIntBE(0, 6) * 16 + (digest[6]! >> 4)) / 2 ** 52
}
