import { UsageError } from '../cli/errors.js'
import { keyTimestamp } from '../stages/run-identity.js'

/**
 * Manifest keys (LAYOUT-CONTRACT): `manifests/<host>/<YYYYMMDDTHHMMSSZ>.ndjson.gz`
 * for a complete run, `…/<stamp>.incomplete.ndjson.gz` for an incomplete
 * one (sysbackup-manifest's manifestKey writes them). The key alone says
 * which host, when, and whether the run was complete, so a listing needs
 * no further request to sort and choose.
 */

/** Prefix of every manifest key. */
export const MANIFEST_PREFIX = 'manifests/'

const KEY_PATTERN = /^manifests\/([A-Za-z0-9._-]+)\/(\d{8}T\d{6}Z)(\.incomplete)?\.ndjson\.gz$/
const STAMP_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/

/** What a manifest key says. */
export interface ManifestKeyInfo {
  key: string
  host: string
  /** The run time, `YYYYMMDDTHHMMSSZ`. */
  stamp: string
  runTime: Date
  complete: boolean
}

/** The parts of a manifest key, or null when `key` is not one (another object under `manifests/`). */
export function parseManifestKey(key: string): ManifestKeyInfo | null {
  const m = KEY_PATTERN.exec(key)
  if (!m) return null
  const runTime = dateOfStamp(m[2]!)
  if (runTime === null) return null
  return { key, host: m[1]!, stamp: m[2]!, runTime, complete: m[3] === undefined }
}

/** The parts of `key`, or a UsageError that starts with `label` (`option --key:`) and shows what a manifest key looks like. */
export function requireManifestKey(key: string, label: string): ManifestKeyInfo {
  const info = parseManifestKey(key)
  if (info === null) throw new UsageError(`${label} "${key}" is not a manifest key (manifests/HOST/YYYYMMDDTHHMMSSZ[.incomplete].ndjson.gz)`)
  return info
}

/** The prefix under which `host`'s manifests are (every host's when undefined). */
export function manifestPrefix(host?: string): string {
  return host === undefined ? MANIFEST_PREFIX : `${MANIFEST_PREFIX}${host}/`
}

/** The time of a `YYYYMMDDTHHMMSSZ` stamp, or null when it is not a valid one. */
export function dateOfStamp(stamp: string): Date | null {
  const m = STAMP_PATTERN.exec(stamp)
  if (!m) return null
  const date = new Date(`${m[1]}-${m[2]}-${m[3]}T${m[4]}:${m[5]}:${m[6]}Z`)
  return Number.isNaN(date.getTime()) || keyTimestamp(date) !== stamp ? null : date
}
