import { closeSync, renameSync } from 'node:fs'
import type { Rec } from '../protocol/records.js'
import { setOwnerAndMode } from './entry-metadata.js'
import { discardTemp, tempNameFor } from './file-writer.js'
import { HelperError } from './fs-helper.js'
import { inTheWay, pin, selfPath, type OnDisk } from './on-disk.js'
import type { SpecialEntry } from './restore-entry.js'
import type { Restorer } from './restorer.js'

/** The file-type bits mknod(2) takes for each kind of special file. */
const TYPE_BITS: Record<SpecialEntry['kind'], number> = {
  fifo: 0o010000,
  char: 0o020000,
  block: 0o060000,
  socket: 0o140000,
}

/**
 * Restores one FIFO, socket or device node with mknod(2) (through the
 * python3 helper: Node has no mknod), then owner, group, mode, times and
 * ACLs. A socket comes back as a socket node, unbound, as after a reboot.
 * Device nodes need root (CAP_MKNOD). One of the same kind (and device
 * number) already there is skipped; anything else is replaced only with
 * --overwrite.
 */
export async function restoreSpecial(r: Restorer, entry: SpecialEntry): Promise<Rec[]> {
  if (entry.parts.length === 0) return r.failed(entry, 'not restored: the target directory itself cannot be a special file')
  let dir
  try {
    dir = await r.parentOf(entry)
  } catch (err) {
    return r.failed(entry, 'not restored', err)
  }
  const name = entry.parts[entry.parts.length - 1]!
  try {
    const existing = inTheWay(dir, name)
    let action: 'written' | 'replaced' | 'skipped' = 'written'
    if (existing !== null) {
      if (sameNode(existing, entry)) action = 'skipped'
      else if (existing.kind === 'dir') return r.failed(entry, 'not restored: a directory is in the way')
      else if (!r.parts.overwrite) return r.kept(entry, `a different ${existing.kind} is there`)
      else action = 'replaced'
    }
    if (action !== 'skipped') {
      const at = action === 'replaced' ? tempNameFor(name) : name
      if (action === 'replaced') discardTemp(dir, at)
      try {
        await r.parts.helper.mknod(dir.forChild(at), TYPE_BITS[entry.kind] | 0o600, entry.rdev)
      } catch (err) {
        if (err instanceof HelperError && err.code === 'ENOSYS') {
          return r.failed(entry, `not restored: making a ${entry.kind} needs python3 (${r.parts.helper.unavailable ?? 'unavailable'})`)
        }
        throw err
      }
      if (action === 'replaced') renameSync(dir.at(at), dir.at(name))
    }
    const { fd, st } = pin(dir, name)
    try {
      r.owner(setOwnerAndMode(selfPath(fd), r.parts.owners.uid(entry.user, entry.uid), r.parts.owners.gid(entry.group, entry.gid), entry.mode, st))
    } finally {
      closeSync(fd)
    }
    const recs: Rec[] = [r.done(entry, action, action === 'skipped' ? { reason: `already a ${entry.kind} there` } : {})]
    recs.push(...await r.times(dir, name, entry), ...await r.xattrs(dir, name, entry), ...await r.acl(dir, name, entry, st))
    return recs
  } catch (err) {
    return r.failed(entry, 'not restored', err)
  } finally {
    r.target.release(dir)
  }
}

function sameNode(existing: OnDisk, entry: SpecialEntry): boolean {
  if (existing.kind !== entry.kind) return false
  return entry.kind === 'fifo' || entry.kind === 'socket' || existing.st.rdev === BigInt(entry.rdev)
}
