import { UsageError } from '../cli/errors.js'

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000, w: 604_800_000 }
const DURATION = /^(\d+(?:\.\d+)?)([smhdw])$/

/**
 * Milliseconds of a duration such as `26h`, `90m`, `2d`, `1.5d`, `1w`
 * (units s, m, h, d, w; one number and one unit). Throws UsageError naming
 * `option` for anything else, or for zero.
 */
export function parseDuration(text: string, option: string): number {
  const m = DURATION.exec(text.trim())
  const ms = m === null ? NaN : Number(m[1]) * UNIT_MS[m[2]!]!
  if (!Number.isFinite(ms) || ms <= 0) throw new UsageError(`option ${option}: "${text}" is not a duration (a number and a unit s, m, h, d or w, e.g. 26h)`)
  return ms
}

/** A duration as a person would say it: `26h`, `3d 4h`, `45m`. */
export function formatDuration(ms: number): string {
  const minutes = Math.floor(ms / 60_000)
  const d = Math.floor(minutes / 1440)
  const h = Math.floor((minutes % 1440) / 60)
  const m = minutes % 60
  const parts = [d > 0 ? `${d}d` : '', h > 0 ? `${h}h` : '', m > 0 && d === 0 ? `${m}m` : ''].filter((p) => p !== '')
  return parts.length === 0 ? `${Math.floor(ms / 1000)}s` : parts.join(' ')
}
