import type { StageContext } from '../../cli/stage.js'
import type { Rec } from '../../protocol/records.js'
import type { Program } from '../../util/programs-dir.js'
import { countRequests } from '../request-counters.js'
import { takeSnapshot, type SnapshotSettings } from './take-snapshot.js'

/** The trailer counters of sysbackup-snap, as sysbackup-snap(1) documents them (plus `req.*`). */
export const SNAP_COUNTERS = ['snapshotters', 'snapshots', 'failed', 'bytes'] as const

/**
 * The records of one run: the snapshotters run one after the other, in
 * name order, each one's records (a `snapshot`, or an `error`, and any
 * warnings) as soon as it is done. One at a time on purpose: snapshotters
 * are database dumps and the like, which compete for the same disks and
 * CPU, so running them together would slow each down and make their
 * snapshots less consistent; and memory stays bounded by one upload.
 * Each one's records are written out before the next one starts, so a
 * stored snapshot is listed even when this stage is killed (SIGKILL)
 * while a later snapshotter runs.
 *
 * The trailer gets `req.<Api>` counters of the store's requests.
 */
export async function* snap(ctx: StageContext, programs: Program[], settings: SnapshotSettings): AsyncGenerator<Rec> {
  for (const name of SNAP_COUNTERS) ctx.count(name, 0)
  try {
    for (const program of programs) {
      if (ctx.signal.aborted) return
      ctx.count('snapshotters')
      yield* await takeSnapshot(ctx, program, settings)
      await ctx.outputWritten()
    }
    // The snapshots are durable before this stage says it is done (a local store batches it).
    await settings.store.makeDurable?.()
  } finally {
    countRequests(ctx, settings.store)
  }
}

/** What a dry run writes: the snapshotters that would run and the keys they would be stored at. */
export async function* plannedSnapshots(ctx: StageContext, programs: Program[], keyPrefix: string): AsyncGenerator<Rec> {
  for (const name of SNAP_COUNTERS) ctx.count(name, 0)
  for (const program of programs) {
    ctx.count('snapshotters')
    yield { type: 'would-snapshot', name: program.name, program: program.path, key: keyPrefix + program.name }
  }
}
