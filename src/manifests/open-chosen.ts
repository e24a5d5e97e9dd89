import type { ParsedArgs } from '../cli/args.js'
import type { CommandIO } from '../cli/stage.js'
import { resolveHost } from '../config/host.js'
import { choiceFromArgs } from '../restore/restore-options.js'
import { openRestoreStore, type RestoreStoreDeps } from '../restore/restore-store.js'
import type { Store } from '../store/store.js'
import { findManifest } from './choose-manifest.js'
import type { ManifestDetails } from './list-manifests.js'
import { openManifest, type ManifestReader } from './read-manifest.js'

/** Test seams of the commands that read one chosen backup (ls, dump). */
export interface ChosenManifestDeps extends RestoreStoreDeps {
  /** Host name of this machine, for the default choice (default: [archive] host, else the system's). */
  host?: string
}

/** A chosen backup's manifest, open for reading, and the store it is in. */
export interface ChosenManifest {
  store: Store
  chosen: ManifestDetails
  reader: ManifestReader
}

/**
 * Opens the store as the access options say (openRestoreStore) and the
 * manifest the choice options name, by restore's rule: `--key`, else the
 * newest complete backup of `--host` (default this machine's) at or before
 * `--at`. Throws UsageError (exit 2) for bad options or when no backup
 * fits. Cost: findManifest's, and one GetObject.
 */
export async function openChosenManifest(args: ParsedArgs, io: CommandIO, deps: ChosenManifestDeps): Promise<ChosenManifest> {
  const choice = choiceFromArgs(args) ?? {}
  const { store, config } = await openRestoreStore(args, io, deps)
  const chosen = await findManifest(store, choice, deps.host ?? resolveHost(undefined, config))
  return { store, chosen, reader: await openManifest(store, chosen.key, chosen.versionId) }
}
