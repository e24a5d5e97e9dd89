import type { StageContext } from '../cli/stage.js'
import { encodePathField } from '../protocol/path-codec.js'
import type { Rec } from '../protocol/records.js'
import { lookAt } from './on-disk.js'
import { restoreRecord } from './restore-record.js'
import type { RestoreEntry } from './restore-entry.js'
import { describe } from './restorer.js'
import type { TargetDirs } from './target-dirs.js'
import { joinUnder } from './target-path.js'

/**
 * The plan of one entry for `--dry-run`: a `would-write` record saying
 * where it would go (`to`), with `existing` naming what is there now (file,
 * dir, symlink, fifo…) when something is, and the content's size for a
 * file. Nothing is created, opened for writing or downloaded; the target
 * is only looked at, with the same no-follow walk as a real restore, so an
 * entry a real run would refuse (a symlink or file in its way) gives an
 * error here too. `target` is null when the target directory does not
 * exist yet (a real run creates it).
 */
export async function planEntry(ctx: StageContext, target: TargetDirs | null, targetPath: string, entry: RestoreEntry): Promise<Rec[]> {
  const to = target !== null ? target.where(entry.parts) : joinUnder(targetPath, entry.parts)
  const extra: Record<string, unknown> = { ...encodePathField('to', to) }
  if (entry.type === 'file') extra.size = entry.contentSize
  if (target !== null) {
    try {
      const existing = await whatIsAt(target, entry.parts)
      if (existing !== null) extra.existing = existing
    } catch (err) {
      const message = `would not be restored: ${describe(err)}`
      ctx.count('failed')
      return [ctx.problem('error', message, { path: entry.path }), restoreRecord(entry.path, entry.type, 'failed', { reason: message })]
    }
  }
  ctx.count('wouldWrite')
  return [restoreRecord(entry.path, entry.type, 'would-write', extra)]
}

/** What is at `parts` below the target now, or null; throws BoundaryError for a symlink or file on the way. */
async function whatIsAt(target: TargetDirs, parts: readonly Buffer[]): Promise<string | null> {
  if (parts.length === 0) return 'dir'
  let dir
  try {
    dir = await target.acquire(parts.slice(0, -1), null)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
    throw err
  }
  try {
    return lookAt(dir, parts[parts.length - 1]!)?.kind ?? null
  } finally {
    target.release(dir)
  }
}
