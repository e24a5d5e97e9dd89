import { UsageError } from '../cli/errors.js'
import { dateOfStamp } from './manifest-key.js'

const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,9}))?)?)?(Z|[+-]\d{2}:?\d{2})?$/

/**
 * The instant a `--at TIME` option names. Accepted forms:
 * - a manifest stamp, `20261126T080000Z`;
 * - ISO-8601 `2026-11-26T08:00:00Z`, with or without seconds and
 *   fraction, `T` or a space, and `Z` or an offset (`+01:00`); without a
 *   zone the time is UTC (backup keys are in UTC);
 * - a date alone, `2026-11-26`, meaning the end of that day in UTC, so
 *   "the newest at or before it" is that day's last backup.
 * Throws UsageError naming `option` for anything else.
 */
export function parseTimeOption(text: string, option = '--at'): Date {
  const stamp = dateOfStamp(text)
  if (stamp !== null) return stamp
  const m = ISO.exec(text.trim())
  if (m) {
    const [, y, mo, d, h, mi, s, frac, zone] = m
    const dateOnly = h === undefined
    const time = dateOnly ? '23:59:59.999' : `${h}:${mi}:${s ?? '00'}.${(frac ?? '0').padEnd(3, '0').slice(0, 3)}`
    const offset = zone === undefined || zone === 'Z' ? 'Z' : zone.length === 5 ? `${zone.slice(0, 3)}:${zone.slice(3)}` : zone
    const date = new Date(`${y}-${mo}-${d}T${time}${offset}`)
    // Date() rolls 2026-02-30 over to March; a round trip of the day catches it.
    if (!Number.isNaN(date.getTime()) && validDay(Number(y), Number(mo), Number(d))) return date
  }
  throw new UsageError(`option ${option}: "${text}" is not a time (use 2026-11-26, 2026-11-26T08:00:00Z or 20261126T080000Z)`)
}

function validDay(y: number, m: number, d: number): boolean {
  const date = new Date(Date.UTC(y, m - 1, d))
  return date.getUTCFullYear() === y && date.getUTCMonth() === m - 1 && date.getUTCDate() === d
}
