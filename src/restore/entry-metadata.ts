import { chmod, chown, lchown, type FileHandle } from 'node:fs/promises'

/** Whether an owner change was made, or refused because this process may not give files away (not root). */
export type OwnerOutcome = 'set' | 'denied'

/**
 * Sets owner, group and mode of an inode, in that order: chown clears the
 * setuid and setgid bits, so the mode (with them) must come after it.
 *
 * `target` is either an open FileHandle (fchown/fchmod) or a path that
 * names the inode itself and can follow nothing else: `/proc/self/fd/N` of
 * an O_PATH descriptor of a directory, file or special file (the kernel
 * resolves that magic link to the inode it pins). Never a symlink: those
 * take ownership only (setSymlinkOwner); Linux has no modes on links.
 *
 * A chown refused with EPERM (a restore run by a user other than root) is
 * reported as `denied` and the mode is set anyway; other errors throw.
 */
export async function setOwnerAndMode(target: FileHandle | Buffer, uid: number, gid: number, mode: number): Promise<OwnerOutcome> {
  let outcome: OwnerOutcome = 'set'
  try {
    if (Buffer.isBuffer(target)) await chown(target, uid, gid)
    else await target.chown(uid, gid)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err
    outcome = 'denied'
  }
  if (Buffer.isBuffer(target)) await chmod(target, mode)
  else await target.chmod(mode)
  return outcome
}

/** lchown of a symlink at `path` (DirHandle.at(name): the link itself, never its target). */
export async function setSymlinkOwner(path: Buffer, uid: number, gid: number): Promise<OwnerOutcome> {
  try {
    await lchown(path, uid, gid)
    return 'set'
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err
    return 'denied'
  }
}

/** The permission bits of a 4-digit octal mode string ("4755"), setuid, setgid and sticky included. */
export function modeBits(mode: string): number {
  return parseInt(mode, 8) & 0o7777
}
