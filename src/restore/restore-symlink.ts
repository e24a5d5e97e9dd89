import { readlinkSync, renameSync, symlinkSync } from 'node:fs'
import { pathBytes } from '../protocol/path-codec.js'
import type { Rec } from '../protocol/records.js'
import { setSymlinkOwner } from './entry-metadata.js'
import { discardTemp, tempNameFor } from './file-writer.js'
import { lookAt } from './on-disk.js'
import type { SymlinkEntry } from './restore-entry.js'
import type { Restorer } from './restorer.js'

/**
 * Restores one symbolic link: made with the manifest's target as is
 * (relative or absolute, inside the target or not — it is never followed
 * by the restore), then its owner (lchown), times and extended attributes
 * (no-follow). The
 * engine restores symlinks after every file and special file, so no entry
 * beneath a restored link can be written through it. An identical link is
 * skipped; anything else in the way is replaced only with --overwrite (a
 * directory never).
 */
export async function restoreSymlink(r: Restorer, entry: SymlinkEntry): Promise<Rec[]> {
  if (entry.parts.length === 0) return r.failed(entry, 'not restored: the target directory itself cannot be a symbolic link')
  let dir
  try {
    dir = await r.parentOf(entry)
  } catch (err) {
    return r.failed(entry, 'not restored', err)
  }
  const name = entry.parts[entry.parts.length - 1]!
  const target = pathBytes(entry.target)
  try {
    const existing = lookAt(dir, name)
    let action: 'symlinked' | 'replaced' | 'skipped' = 'symlinked'
    if (existing === null) {
      symlinkSync(target, dir.at(name))
    } else if (existing.kind === 'symlink' && readlinkSync(dir.at(name), { encoding: 'buffer' }).equals(target)) {
      action = 'skipped'
    } else if (existing.kind === 'dir') {
      return r.failed(entry, 'not restored: a directory is in the way')
    } else if (!r.parts.overwrite) {
      return r.kept(entry, `a different ${existing.kind} is there`)
    } else {
      const temp = tempNameFor(name)
      discardTemp(dir, temp)
      symlinkSync(target, dir.at(temp))
      renameSync(dir.at(temp), dir.at(name))
      action = 'replaced'
    }
    r.owner(setSymlinkOwner(dir.at(name), r.parts.owners.uid(entry.user, entry.uid), r.parts.owners.gid(entry.group, entry.gid)))
    const recs: Rec[] = [r.done(entry, action, action === 'skipped' ? { reason: 'already there with the same target' } : {})]
    recs.push(...await r.times(dir, name, entry), ...await r.xattrs(dir, name, entry))
    return recs
  } catch (err) {
    return r.failed(entry, 'not restored', err)
  } finally {
    r.target.release(dir)
  }
}
