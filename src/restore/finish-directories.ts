import { chmodSync, fstatSync } from 'node:fs'
import type { Rec } from '../protocol/records.js'
import { IMPLIED_DIR_MODE } from './directories.js'
import { setOwnerAndMode } from './entry-metadata.js'
import type { Restorer } from './restorer.js'

/** Directories whose extended attributes and times are being set at once. */
const TIMES_IN_FLIGHT = 64

/**
 * The last pass of a restore over directories, deepest first: owner,
 * group and mode (chown before chmod), then ACLs (access and default,
 * batched), extended attributes and times (pipelined), all through each directory's own O_PATH descriptor,
 * so no path is resolved again and a parent's final mode cannot get in the
 * way. Yields a `dir` record per directory entry restored. A directory
 * created on the way to an entry without an entry of its own gets mode
 * 0755 (or the metadata of its entry, when a filter left that out).
 */
export async function* finishDirectories(r: Restorer): AsyncGenerator<Rec> {
  const timing: Promise<Rec[]>[] = []
  for (const dir of r.dirs.deepestFirst()) {
    const entry = dir.entry ?? dir.unselected
    const failWith = (what: string, err: unknown): Rec[] => entry !== undefined
      ? r.failed(dir.entry ?? { path: entry.path, type: 'dir' }, what, err)
      : [r.ctx.problem('error', `${what}: ${String((err as Error).message)}`, { path: r.target.where(dir.parts) })]
    let handle
    try {
      handle = await r.target.acquire(dir.parts, null)
    } catch (err) {
      yield* failWith('directory not finished', err)
      continue
    }
    let release = true
    try {
      if (entry === undefined) {
        chmodSync(handle.self(), IMPLIED_DIR_MODE)
        r.count('dirsImplied')
        continue
      }
      const uid = r.parts.owners.uid(entry.user, entry.uid)
      const gid = r.parts.owners.gid(entry.group, entry.gid)
      r.owner(setOwnerAndMode(handle.self(), uid, gid, entry.mode, fstatSync(handle.fd, { bigint: true })))
      yield* await r.acl(handle, '.', entry)
      if (dir.entry !== undefined) yield r.done(dir.entry, 'dir')
      else r.count('dirsImplied')
      const held = handle
      timing.push(Promise.all([r.xattrs(held, '.', entry), r.times(held, '.', entry)])
        .then((problems) => problems.flat())
        .finally(() => r.target.release(held)))
      release = false
      if (timing.length >= TIMES_IN_FLIGHT) yield* await timing.shift()!
    } catch (err) {
      yield* failWith('directory not finished', err)
    } finally {
      if (release) r.target.release(handle)
    }
  }
  for (const pending of timing) yield* await pending
}
