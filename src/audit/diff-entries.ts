import { FatalError } from '../cli/errors.js'
import type { ManifestReader } from '../manifests/read-manifest.js'
import { decodePath, decodePathField, displayPath, pathBytes, type FsPath } from '../protocol/path-codec.js'
import { isEntry, type Rec } from '../protocol/records.js'
import { snapshotLabel } from '../manifests/snapshot-label.js'

/** A field that changed: its old and new value (absent when the entry had none). */
export interface FieldChange {
  from?: string
  to?: string
}

/** The metadata fields diff compares, besides content; `owner` and `group` are names when known, else ids. */
export const METADATA_FIELDS = ['type', 'owner', 'group', 'mode', 'acl', 'defaultAcl', 'xattrs', 'target', 'device'] as const
export type MetadataField = (typeof METADATA_FIELDS)[number]

/** One difference between two backups. */
export interface Change {
  change: 'added' | 'removed' | 'modified'
  path: FsPath
  /** The entry type in the newer backup (the older one for `removed`). */
  entry: string
  /** For `modified`: the content (a file's SHA-256, a snapshot's) when it changed. */
  content?: FieldChange & { fromSize?: number, toSize?: number }
  /** For `modified`: each metadata field that changed. */
  metadata?: Partial<Record<MetadataField, FieldChange>>
}

/** Counts of a diff. */
export interface DiffCounts {
  added: number
  removed: number
  modified: number
  contentChanged: number
  metadataChanged: number
  unchanged: number
}

/**
 * The differences between two manifests, streamed: both are read side by
 * side in path order (manifests are sorted by path bytes), so memory is two
 * records, whatever their size. Snapshots (after the entries) are compared
 * by name, as paths `snapshot:NAME`. Throws FatalError when a manifest's
 * entries are out of order (a hand-made or damaged manifest), since the
 * merge would then report wrong differences.
 */
export async function* diffManifests(a: ManifestReader, b: ManifestReader, counts: DiffCounts): AsyncGenerator<Change> {
  const left = sortedItems(a)
  const right = sortedItems(b)
  let x = await left.next()
  let y = await right.next()
  while (!x.done || !y.done) {
    const order = x.done ? 1 : y.done ? -1 : compareItems(x.value, y.value)
    if (order < 0) {
      counts.removed++
      yield { change: 'removed', path: x.value!.path, entry: x.value!.rec.type }
      x = await left.next()
    } else if (order > 0) {
      counts.added++
      yield { change: 'added', path: y.value!.path, entry: y.value!.rec.type }
      y = await right.next()
    } else {
      const change = compare(x.value!, y.value!)
      if (change === null) counts.unchanged++
      else {
        counts.modified++
        if (change.content !== undefined) counts.contentChanged++
        if (change.metadata !== undefined) counts.metadataChanged++
        yield change
      }
      x = await left.next()
      y = await right.next()
    }
  }
}

/** An entry or a snapshot with the bytes it sorts by. */
interface Item {
  /** 0 for entries, 1 for snapshots (which follow every entry). */
  section: 0 | 1
  path: FsPath
  bytes: Buffer
  rec: Rec
}

function compareItems(a: Item, b: Item): number {
  return a.section !== b.section ? a.section - b.section : Buffer.compare(a.bytes, b.bytes)
}

/** The entries and snapshots of a manifest in order; checks that they are. */
async function* sortedItems(reader: ManifestReader): AsyncGenerator<Item> {
  let previous: Item | undefined
  const snapshots: Item[] = []
  for await (const line of reader) {
    const rec = line.rec
    if (rec === undefined) continue
    let item: Item
    if (isEntry(rec)) {
      let path: FsPath
      try {
        path = decodePath(rec)
      } catch (err) {
        throw new FatalError(`${reader.source}:${line.line}: ${(err as Error).message}`)
      }
      item = { section: 0, path, bytes: pathBytes(path), rec }
    } else if (rec.type === 'snapshot' && typeof rec.name === 'string') {
      // Snapshots are few: gather them, to compare in name order after the entries.
      const path = snapshotLabel(rec.name)
      snapshots.push({ section: 1, path, bytes: Buffer.from(path), rec })
      continue
    } else {
      continue
    }
    if (previous !== undefined && compareItems(previous, item) >= 0) {
      throw new FatalError(`${reader.source}:${line.line}: entries are not sorted by path (${displayPath(item.path)} after ${displayPath(previous.path)}): cannot compare it in one pass`)
    }
    previous = item
    yield item
  }
  snapshots.sort(compareItems)
  yield* snapshots
}

/** The change between two entries at the same path, or null when nothing compared differs. */
function compare(a: Item, b: Item): Change | null {
  const change: Change = { change: 'modified', path: b.path, entry: b.rec.type }
  const contentA = contentOf(a.rec)
  const contentB = contentOf(b.rec)
  if (a.rec.type === b.rec.type && contentA !== contentB) {
    change.content = {
      ...(contentA !== undefined && { from: contentA }), ...(contentB !== undefined && { to: contentB }),
      ...(typeof a.rec.size === 'number' && { fromSize: a.rec.size }), ...(typeof b.rec.size === 'number' && { toSize: b.rec.size }),
    }
  }
  const metadata: Partial<Record<MetadataField, FieldChange>> = {}
  for (const field of METADATA_FIELDS) {
    const from = fieldOf(a.rec, field)
    const to = fieldOf(b.rec, field)
    if (from !== to) metadata[field] = { ...(from !== undefined && { from }), ...(to !== undefined && { to }) }
  }
  if (Object.keys(metadata).length > 0) change.metadata = metadata
  return change.content === undefined && change.metadata === undefined ? null : change
}

/** What a file's or snapshot's content is: its SHA-256. */
function contentOf(rec: Rec): string | undefined {
  return (rec.type === 'file' || rec.type === 'snapshot') && typeof rec.sha256 === 'string' ? rec.sha256 : undefined
}

/** A metadata field as text, for comparing and showing. */
function fieldOf(rec: Rec, field: MetadataField): string | undefined {
  if (rec.type === 'snapshot') return field === 'type' ? 'snapshot' : undefined
  switch (field) {
    case 'type': return rec.type === 'special' && typeof rec.kind === 'string' ? `special (${rec.kind})` : rec.type
    case 'owner': return typeof rec.user === 'string' ? rec.user : typeof rec.uid === 'number' ? String(rec.uid) : undefined
    case 'group': return typeof rec.group === 'string' ? rec.group : typeof rec.gid === 'number' ? String(rec.gid) : undefined
    case 'mode': return typeof rec.mode === 'string' ? rec.mode : undefined
    case 'acl': return typeof rec.acl === 'string' ? rec.acl : undefined
    case 'defaultAcl': return typeof rec.defaultAcl === 'string' ? rec.defaultAcl : undefined
    case 'xattrs': {
      // `name=base64,…` in name order (sysbackup-pick records them sorted).
      if (typeof rec.xattrs !== 'object' || rec.xattrs === null) return undefined
      return Object.entries(rec.xattrs as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
        .map(([name, value]) => `${name}=${String(value)}`).join(',')
    }
    case 'target': {
      if (rec.type !== 'symlink') return undefined
      try {
        return displayPath(decodePathField(rec, 'target'))
      } catch {
        return undefined
      }
    }
    case 'device': return rec.type === 'special' && typeof rec.rdev === 'number' ? String(rec.rdev) : undefined
  }
}
