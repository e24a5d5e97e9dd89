import { FatalError } from '../cli/errors.js'
import { decodePath, displayPath, pathBytes } from '../protocol/path-codec.js'
import { isEntry, type Rec } from '../protocol/records.js'
import { manifestDamage, type ManifestReader } from './read-manifest.js'
import { snapshotLabel } from './snapshot-label.js'

/** What to look up in a manifest. */
export type Wanted =
  /** The entry at one of `paths` (raw bytes); when several have one, the first of them in this order. */
  | { kind: 'entry', paths: readonly Buffer[] }
  /** The snapshot of this name. */
  | { kind: 'snapshot', name: string }

export interface Found {
  rec: Rec
  /** Its line in the manifest, for messages. */
  line: number
  /**
   * For a file entry without a `key` of its own that is one of a group of
   * hard links (`storageId`, `nlink` > 1): the record of another member of
   * its group that has one, if the manifest has such a member. Its content
   * is the inode's, as a restore links the group to its first member.
   */
  linkedTo?: Rec
}

/**
 * Looks `wanted` up in `reader`, reading only as far as it must. Entries
 * are sorted by the bytes of their paths (sysbackup-manifest(1)), so the
 * reading stops at the first entry at or past the last path wanted, or at
 * the first snapshot record (snapshots follow the entries); a snapshot is
 * looked for among the snapshot records, and the reading stops at it. The
 * one exception: a file found without content of its own in a group of
 * hard links, none of whose members before it had some, makes the reading
 * go on to a member of its group that has (see Found.linkedTo).
 *
 * Returns null when the manifest does not have it. Throws FatalError when
 * the manifest, read to its end without finding it, turned out cut off or
 * altered (manifestDamage): it may have been in what could not be read.
 * Lines that are not records, and entries whose path cannot be read, are
 * passed over. The manifest's digest is checked only when it is read to
 * its end. Memory: one record per group of hard links with content, up to
 * the entry found.
 */
export async function findInManifest(reader: ManifestReader, wanted: Wanted): Promise<Found | null> {
  const found = wanted.kind === 'snapshot' ? await findSnapshot(reader, wanted.name) : await findEntry(reader, wanted.paths)
  if (found !== null) return found
  const damage = reader.ended ? manifestDamage(reader) : null
  if (damage !== null) {
    const what = wanted.kind === 'snapshot' ? snapshotLabel(wanted.name) : displayPath(wanted.paths[0]!)
    throw new FatalError(`${damage}: ${what} is not in what could be read`)
  }
  return null
}

async function findSnapshot(reader: ManifestReader, name: string): Promise<Found | null> {
  for await (const { rec, line } of reader) {
    if (rec?.type === 'snapshot' && rec.name === name) return { rec, line }
  }
  return null
}

async function findEntry(reader: ManifestReader, paths: readonly Buffer[]): Promise<Found | null> {
  const last = paths.reduce((a, b) => Buffer.compare(a, b) >= 0 ? a : b)
  const withContent = new Map<string, Rec>()
  let best: Found | undefined
  let rank = paths.length
  let searching = true
  /** Whether `best` is settled: it has content, or a member of its group before it had. */
  const settled = (): boolean => {
    const group = linkGroup(best!.rec, false)
    if (group === undefined) return true
    const earlier = withContent.get(group)
    if (earlier !== undefined) best!.linkedTo = earlier
    return earlier !== undefined
  }
  for await (const { rec, line } of reader) {
    if (rec === undefined || rec.type === 'header') continue
    if (!isEntry(rec)) break
    if (!searching) {
      if (linkGroup(rec, true) === best!.rec.storageId) {
        best!.linkedTo = rec
        break
      }
      continue
    }
    let bytes: Buffer
    try {
      bytes = pathBytes(decodePath(rec))
    } catch {
      continue
    }
    const group = linkGroup(rec, true)
    if (group !== undefined && !withContent.has(group)) withContent.set(group, rec)
    const i = paths.findIndex((p) => p.equals(bytes))
    if (i >= 0 && i < rank) {
      best = { rec, line }
      rank = i
    }
    if (rank === 0 || Buffer.compare(bytes, last) >= 0) {
      if (best === undefined || settled()) break
      searching = false
      withContent.clear()
    }
  }
  if (best !== undefined && searching) settled()
  return best ?? null
}

/**
 * The `storageId` of a file entry in a group of hard links that has
 * content of its own (`withKey`), or that has none; else undefined.
 */
function linkGroup(rec: Rec, withKey: boolean): string | undefined {
  if (rec.type !== 'file' || typeof rec.storageId !== 'string' || !(typeof rec.nlink === 'number' && rec.nlink > 1)) return undefined
  return (rec.key !== undefined) === withKey ? rec.storageId : undefined
}
