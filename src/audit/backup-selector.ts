import { UsageError } from '../cli/errors.js'
import { validHostName } from '../config/host.js'
import type { ManifestChoice } from '../manifests/choose-manifest.js'
import { MANIFEST_PREFIX, requireManifestKey } from '../manifests/manifest-key.js'
import { parseTimeOption } from '../manifests/parse-time.js'

/**
 * The backup a command-line argument names: a manifest key
 * (`manifests/web1/20261126T080000Z.ndjson.gz`, complete or not), or
 * `HOST[@TIME]`: the newest complete backup of HOST at or before TIME
 * (anything `--at` accepts: `2026-11-26`, `2026-11-26T08:00Z`,
 * `20261126T080000Z`), or its newest when TIME is absent. Throws
 * UsageError naming `what` (e.g. `first backup`).
 */
export function parseBackupSelector(text: string, what: string): ManifestChoice {
  if (text.startsWith(MANIFEST_PREFIX)) {
    requireManifestKey(text, what)
    return { key: text }
  }
  const at = text.indexOf('@')
  const host = at < 0 ? text : text.slice(0, at)
  if (!validHostName(host)) throw new UsageError(`${what} "${text}": "${host}" is not a host name (give HOST, HOST@TIME or a manifest key)`)
  if (at < 0) return { host }
  return { host, at: parseTimeOption(text.slice(at + 1), `${what} "${text}": the time`) }
}
