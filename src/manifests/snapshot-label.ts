/**
 * How commands name a snapshot where they name entries by path: as
 * `snapshot:NAME` (ls and dump take and show it, diff shows it). No entry
 * path can look like one: entry paths are absolute.
 */
const PREFIX = 'snapshot:'

/** `snapshot:NAME`. */
export function snapshotLabel(name: string): string {
  return PREFIX + name
}

/** The NAME of `snapshot:NAME` (possibly empty); undefined when `text` is not such a label. */
export function snapshotNameIn(text: string): string | undefined {
  return text.startsWith(PREFIX) ? text.slice(PREFIX.length) : undefined
}
