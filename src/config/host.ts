import { hostname } from 'node:os'
import { UsageError } from '../cli/errors.js'
import type { LoadedConfig } from './load-config.js'

/** What a host name may contain: it becomes a segment of object keys and an IAM tag value. */
const HOST_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]*$/

/**
 * The IAM tag that names a host: on a host's IAM user (set by write-config)
 * and on its backup role session (set when assuming the role), so the
 * package's policies can confine a host to its own manifests and snapshots.
 */
export const HOST_TAG = 's3-sysbackup-host'

/** Whether `host` can name a host in the store (a key segment, at most 128 characters like a tag value). */
export function validHostName(host: string): boolean {
  return HOST_NAME.test(host) && host.length <= 128
}

/** Returns `host` when it can name a host in the store; throws UsageError naming `--host` otherwise. */
export function checkHostOption(host: string): string {
  if (!validHostName(host)) throw new UsageError(`option --host: "${host}" is not a host name (letters, digits, ".", "_", "-")`)
  return host
}

/**
 * The name this machine's manifests and snapshots are stored under:
 * `--host NAME`, else `[archive] host`, else the system host name. Throws
 * UsageError for a name that cannot be a key segment.
 */
export function resolveHost(flag: string | undefined, config: LoadedConfig): string {
  const host = flag ?? config.values.archive.host ?? hostname()
  if (!validHostName(host)) {
    const from = flag !== undefined ? '--host' : config.values.archive.host !== undefined ? `${config.file}: [archive] host` : 'the system host name'
    throw new UsageError(`${from}: "${host}" cannot name a host in the store (up to 128 letters, digits, ".", "_" and "-")`)
  }
  return host
}
