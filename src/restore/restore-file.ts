import { closeSync, lstatSync } from 'node:fs'
import type { Rec } from '../protocol/records.js'
import { StoreFatalError } from '../store/errors.js'
import { setOwnerAndMode } from './entry-metadata.js'
import { linkFile } from './file-writer.js'
import type { LinkSource } from './hard-links.js'
import { hasContent, inTheWay, openIfSameContent } from './on-disk.js'
import type { FileEntry } from './restore-entry.js'
import type { Restorer } from './restorer.js'

/**
 * Restores one file entry: its content (downloaded, verified, written to a
 * temporary name and renamed into place), owner, group, mode, times,
 * extended attributes and ACLs — or a hard link to the entry it shares an inode with. A file that
 * is already there with the same content is skipped (its metadata set
 * again); a different one is replaced only with --overwrite. Returns the
 * entry's records. Only a StoreFatalError (the store refuses everything)
 * escapes.
 */
export async function restoreFile(r: Restorer, entry: FileEntry): Promise<Rec[]> {
  if (entry.parts.length === 0) return r.failed(entry, 'not restored: the target directory itself cannot be a file')
  const claim = entry.storageId !== undefined && entry.nlink > 1 ? r.links.claim(entry.storageId) : null
  let source: LinkSource | null = null
  try {
    if (claim !== null && !claim.leader) {
      const leader = await claim.source
      // When the first of the group could not be restored, this one is written on its own.
      if (leader !== null) return await linkTo(r, entry, leader)
    }
    const result = await writeEntry(r, entry)
    source = result.source
    return result.recs
  } finally {
    if (claim?.leader) claim.settle(source)
  }
}

async function writeEntry(r: Restorer, entry: FileEntry): Promise<{ recs: Rec[], source: LinkSource | null }> {
  let dir
  try {
    dir = await r.parentOf(entry)
  } catch (err) {
    return { recs: r.failed(entry, 'not restored', err), source: null }
  }
  const name = entry.parts[entry.parts.length - 1]!
  const uid = r.parts.owners.uid(entry.user, entry.uid)
  const gid = r.parts.owners.gid(entry.group, entry.gid)
  try {
    const existing = inTheWay(dir, name)
    let action: 'written' | 'replaced' = 'written'
    if (existing !== null) {
      if (existing.kind === 'dir') return { recs: r.failed(entry, 'not restored: a directory is in the way'), source: null }
      const same = existing.kind === 'file' && entry.content !== undefined && existing.st.size === BigInt(entry.contentSize)
        ? await openIfSameContent(dir, name, entry.content.sha256, entry.contentSize, existing.st) : null
      if (same !== null) {
        // The metadata is set again only where it differs: a rerun over a complete restore changes nothing.
        const st = existing.st
        try {
          r.owner(setOwnerAndMode(same, uid, gid, entry.mode, st))
        } finally {
          closeSync(same)
        }
        r.parts.content.remember(entry.content!.sha256, entry.parts)
        const recs: Rec[] = [r.done(entry, 'skipped', { reason: 'already there with the same content' })]
        r.metadataLater(dir, name, entry, { times: st.mtimeNs !== entry.mtimeNs })
        recs.push(...await r.acl(dir, name, entry, st))
        return { recs, source: { parts: entry.parts, st } }
      }
      if (!r.parts.overwrite) return { recs: r.kept(entry, `a different ${existing.kind === 'file' ? 'file' : existing.kind} is there`), source: null }
      action = 'replaced'
    }
    if (entry.content === undefined) {
      return { recs: r.failed(entry, 'not restored: the backup did not store its content (the entry has no "key")'), source: null }
    }
    const times = { atimeNs: r.parts.atimeNs, mtimeNs: entry.mtimeNs }
    const { fetched, owner, st, timesSet } = await r.parts.content.write(entry.content, dir, name, { uid, gid, mode: entry.mode, times })
    r.parts.content.remember(entry.content.sha256, entry.parts)
    r.owner(owner)
    r.count('bytesWritten', fetched.bytes)
    r.count('bytesDownloaded', fetched.transferred)
    if (fetched.from === 'local') r.count('copiedLocally')
    const recs: Rec[] = [r.done(entry, action, { size: fetched.bytes })]
    r.metadataLater(dir, name, entry, { times: !timesSet })
    recs.push(...await r.acl(dir, name, entry, st))
    return { recs, source: { parts: entry.parts, st } }
  } catch (err) {
    if (err instanceof StoreFatalError) throw err
    return { recs: r.failed(entry, 'not restored', err), source: null }
  } finally {
    r.target.release(dir)
  }
}

/** Makes `entry` a hard link of `source`, the first restored entry of its group. */
async function linkTo(r: Restorer, entry: FileEntry, source: LinkSource): Promise<Rec[]> {
  let dir
  let fromDir
  try {
    dir = await r.parentOf(entry)
    fromDir = await r.target.acquire(source.parts.slice(0, -1), null)
  } catch (err) {
    if (dir !== undefined) r.target.release(dir)
    return r.failed(entry, 'not restored as a hard link', err)
  }
  const name = entry.parts[entry.parts.length - 1]!
  const fromName = source.parts[source.parts.length - 1]!
  try {
    const existing = inTheWay(dir, name)
    let replace = false
    if (existing !== null) {
      if (existing.st.ino === source.st.ino && existing.st.dev === source.st.dev) return [r.done(entry, 'skipped', { reason: 'already a link of its group' })]
      if (existing.kind === 'dir') return r.failed(entry, 'not restored: a directory is in the way')
      // The same content unlinked (an earlier restore without links) gives way to the link: nothing is lost.
      const sameContent = existing.kind === 'file' && entry.content !== undefined && existing.st.size === source.st.size
        && await hasContent(dir, name, entry.content.sha256, Number(source.st.size))
      if (!sameContent && !r.parts.overwrite) return r.kept(entry, `a different ${existing.kind} is there`)
      replace = true
    }
    linkFile(fromDir, fromName, dir, name, replace)
    const made = lstatSync(dir.at(name), { bigint: true })
    if (made.ino !== source.st.ino || made.dev !== source.st.dev) {
      return r.failed(entry, 'not restored as a hard link: its first entry was replaced while the restore ran')
    }
    return [r.done(entry, 'linked')]
  } catch (err) {
    if (err instanceof StoreFatalError) throw err
    return r.failed(entry, 'not restored as a hard link', err)
  } finally {
    r.target.release(dir)
    r.target.release(fromDir)
  }
}
