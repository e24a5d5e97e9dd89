import { chmodSync, chownSync, fchmodSync, fchownSync, lchownSync, type BigIntStats } from 'node:fs'

/** Whether an owner change was made, or refused because this process may not give files away (not root). */
export type OwnerOutcome = 'set' | 'denied'

/**
 * Sets owner, group and mode of an inode, in that order: chown clears the
 * setuid and setgid bits, so the mode (with them) must come after it.
 *
 * `target` is either an open descriptor (fchown/fchmod) or a path that
 * names the inode itself and can follow nothing else: `/proc/self/fd/N` of
 * an O_PATH descriptor of a directory, file or special file (the kernel
 * resolves that magic link to the inode it pins). Never a symlink: those
 * take ownership only (setSymlinkOwner); Linux has no modes on links.
 *
 * A chown refused with EPERM (a restore run by a user other than root) is
 * reported as `denied` and the mode is set anyway; other errors throw.
 * With `current` (the inode's stat), calls that would change nothing are
 * not made. (Synchronous: see util/fd-io.ts for why.)
 */
export function setOwnerAndMode(target: number | Buffer, uid: number, gid: number, mode: number, current?: BigIntStats): OwnerOutcome {
  let outcome: OwnerOutcome = 'set'
  const chownNeeded = current === undefined || current.uid !== BigInt(uid) || current.gid !== BigInt(gid)
  if (chownNeeded) {
    try {
      if (typeof target === 'number') fchownSync(target, uid, gid)
      else chownSync(target, uid, gid)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err
      outcome = 'denied'
    }
  }
  // chown clears setuid and setgid, so after one the mode is set whenever it has them.
  if (current === undefined || Number(current.mode & 0o7777n) !== mode || (chownNeeded && (mode & 0o6000) !== 0)) {
    if (typeof target === 'number') fchmodSync(target, mode)
    else chmodSync(target, mode)
  }
  return outcome
}

/** lchown of a symlink at `path` (DirHandle.at(name): the link itself, never its target). */
export function setSymlinkOwner(path: Buffer, uid: number, gid: number): OwnerOutcome {
  try {
    lchownSync(path, uid, gid)
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
