import { UsageError } from '../cli/errors.js'
import { parseTime } from '../stages/run-identity.js'

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/

/**
 * The instant a `--at TIME` option names: what `--run-time` accepts (an
 * ISO-8601 time with a zone, `2026-11-26T08:00:00Z` or `…+01:00`, or a key
 * timestamp `20261126T080000Z`; a time without a zone would mean something
 * else on every machine, so it is refused), or a date alone,
 * `2026-11-26`, meaning the end of that day in UTC, so that "the newest
 * backup at or before it" is that day's last one. Throws UsageError naming
 * `option`.
 */
export function parseTimeOption(text: string, option = '--at'): Date {
  const m = DATE_ONLY.exec(text)
  if (m === null) return parseTime(text, option)
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])]
  const date = new Date(Date.UTC(y, mo - 1, d, 23, 59, 59, 999))
  // Date.UTC rolls 2026-02-30 over to March; a round trip of the day catches it.
  if (date.getUTCFullYear() !== y || date.getUTCMonth() !== mo - 1 || date.getUTCDate() !== d) {
    throw new UsageError(`${option}: "${text}" is not a date`)
  }
  return date
}
