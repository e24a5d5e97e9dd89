import { UsageError } from '../../cli/errors.js'

export const DAY_MS = 86_400_000

/** `2026-11-26T08:00:00Z`, with optional fraction and a Z or ±hh:mm offset. */
const ISO_EXTENDED = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/
/** `20261126T080000Z`: the run's key form (LAYOUT-CONTRACT). */
const KEY_FORM = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/

/**
 * The time an option gives, in ISO-8601 with a time zone
 * (`2026-11-26T08:00:00Z`) or the run's key form (`20261126T080000Z`).
 * Throws UsageError naming the option otherwise: a time without a zone
 * would mean different instants on different machines.
 */
export function parseTimeOption(option: string, text: string): Date {
  const key = KEY_FORM.exec(text)
  const iso = key ? `${key[1]}-${key[2]}-${key[3]}T${key[4]}:${key[5]}:${key[6]}Z` : text
  const date = new Date(iso)
  if ((!key && !ISO_EXTENDED.test(text)) || Number.isNaN(date.getTime())) {
    throw new UsageError(`option --${option}: "${text}" is not a time like 2026-11-26T08:00:00Z`)
  }
  return date
}

/** `days` days after `date`. */
export function addDays(date: Date, days: number): Date {
  return new Date(date.getTime() + days * DAY_MS)
}
