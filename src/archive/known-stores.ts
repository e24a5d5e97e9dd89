import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { FatalError } from '../cli/errors.js'
import { storeIn } from '../store/local-store.js'
import { writeFileAtomic } from '../util/atomic-file.js'

/**
 * The local stores this machine's archive has written into, by path, kept
 * in the state directory: so that a store that has gone from its path is
 * noticed instead of silently replaced.
 *
 * The case it is for: a backup disk not mounted. Its mount point is an
 * empty directory (or, for a store below it, a missing one), which the
 * archive would otherwise make a new store of, and back the whole machine
 * up into the root file system. A run whose store was here before and is
 * not now stops instead, with exit status 3, having written nothing;
 * `--new-store` starts a new store at that path on purpose (a new disk of
 * a rotation).
 *
 * The file, `local-stores`, is one JSON object a line:
 * `{"path":"/mnt/backup","instance":"…","createdAt":"…"}`, the store last
 * seen at each path. Only the archive reads and writes it, under its run
 * lock.
 */
export const KNOWN_STORES_FILE = 'local-stores'

interface KnownStore {
  path: string
  instance?: string
  createdAt?: string
}

/**
 * Throws FatalError when the state directory remembers a store at `dir`
 * and `dir` now holds none (it is missing or empty).
 */
export function checkStoreStillThere(stateDir: string, dir: string): void {
  const known = readKnownStores(stateDir).get(dir)
  if (known === undefined || storeIn(dir).kind !== 'none') return
  const made = known.createdAt !== undefined ? ` (made ${known.createdAt})` : ''
  throw new FatalError(`file:${dir}: the store this machine backed up into here${made} is not there: ${dir} is missing or empty. `
    + 'Is its disk mounted? Nothing was written; to start a new store at this path, run with --new-store')
}

/**
 * Remembers the store now at `dir` (after a run that wrote into it).
 * Returns a one-line problem when it cannot; the run's backup is not
 * affected, only this check of the next run.
 */
export async function rememberStore(stateDir: string, dir: string): Promise<string | undefined> {
  const found = storeIn(dir)
  if (found.kind !== 'store') return undefined
  const stores = readKnownStores(stateDir)
  const known: KnownStore = { path: dir }
  if (found.instance !== undefined) known.instance = found.instance
  if (found.createdAt !== undefined) known.createdAt = found.createdAt
  const before = stores.get(dir)
  if (before !== undefined && before.instance === known.instance && before.createdAt === known.createdAt) return undefined
  stores.set(dir, known)
  const file = join(stateDir, KNOWN_STORES_FILE)
  try {
    const lines = [...stores.values()].map((store) => Buffer.from(JSON.stringify(store) + '\n'))
    await writeFileAtomic(file, lines, { dirMode: 0o700, fileMode: 0o600 })
  } catch (err) {
    return `${file}: cannot be written (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the next run cannot tell if this store has gone from ${dir}`
  }
  return undefined
}

/** The stores of the file, by path; lines that are not such an object are passed over. */
function readKnownStores(stateDir: string): Map<string, KnownStore> {
  const stores = new Map<string, KnownStore>()
  let text: string
  try {
    text = readFileSync(join(stateDir, KNOWN_STORES_FILE), 'utf8')
  } catch {
    return stores // none yet (or unreadable: the state directory is only ever a cache)
  }
  for (const line of text.split('\n')) {
    let parsed: unknown
    try {
      parsed = JSON.parse(line)
    } catch {
      continue
    }
    const store = parsed as Partial<KnownStore> | null
    if (typeof store?.path !== 'string') continue
    const known: KnownStore = { path: store.path }
    if (typeof store.instance === 'string') known.instance = store.instance
    if (typeof store.createdAt === 'string') known.createdAt = store.createdAt
    stores.set(store.path, known)
  }
  return stores
}
