/**
 * The UTC timestamp that names a run in object keys: `YYYYMMDDTHHMMSSZ`
 * (ISO 8601 basic format), e.g. `20261126T080000Z`. It sorts by time.
 */
export function keyTimestamp(time: Date): string {
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z').replace(/[-:]/g, '')
}
