import { hostname } from 'node:os'
import { UsageError } from '../cli/errors.js'
import type { LoadedConfig } from './load-config.js'

/** What a host name may contain: it becomes a segment of object keys. */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/**
 * The name this machine's manifests and snapshots are stored under:
 * `--host NAME`, else `[archive] host`, else the system host name. Throws
 * UsageError for a name that cannot be a key segment.
 */
export function resolveHost(flag: string | undefined, config: LoadedConfig): string {
  const host = flag ?? config.values.archive.host ?? hostname()
  if (!HOST_NAME.test(host) || host.length > 253) {
    const from = flag !== undefined ? '--host' : config.values.archive.host !== undefined ? `${config.file}: [archive] host` : 'the system host name'
    throw new UsageError(`${from}: "${host}" cannot name a host in the store (letters, digits, ".", "_" and "-" only)`)
  }
  return host
}
