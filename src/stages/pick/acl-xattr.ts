/** Where Linux keeps an inode's POSIX ACLs, as extended attributes. */
export const ACCESS_ACL_XATTR = 'system.posix_acl_access'
export const DEFAULT_ACL_XATTR = 'system.posix_acl_default'

/** Looks up the names of ids (OwnerNames); undefined for an id without one. */
export interface IdNames {
  user(uid: number): string | undefined
  group(gid: number): string | undefined
}

const ACL_XATTR_VERSION = 2
const HEADER_BYTES = 4
const ENTRY_BYTES = 8
const USER_OBJ = 0x01
const USER = 0x02
const GROUP_OBJ = 0x04
const GROUP = 0x08
const MASK = 0x10
const OTHER = 0x20

/**
 * The short text form of a POSIX ACL from the value of its extended
 * attribute (the kernel's `posix_acl_xattr` layout: a little-endian
 * version 2, then per entry a 16-bit tag, 16-bit permissions and 32-bit
 * id, in the kernel's canonical order) — the text `getfacl` prints for
 * it: `user::rw-,user:www-data:r--,group::r--,mask::r--,other::r--`, named
 * entries by name where the machine has one, else by number.
 *
 * An access ACL that only restates the mode bits (no named entry, no
 * mask) gives undefined, as `getfacl --skip-base` leaves it out. Throws
 * an Error for a value that is not such an ACL.
 */
export function aclText(value: Buffer, names: IdNames, kind: 'access' | 'default'): string | undefined {
  if (value.length < HEADER_BYTES || (value.length - HEADER_BYTES) % ENTRY_BYTES !== 0 || value.readUInt32LE(0) !== ACL_XATTR_VERSION) {
    throw new Error(`not a POSIX ACL (${value.length} bytes)`)
  }
  const entries: string[] = []
  let extended = false
  for (let at = HEADER_BYTES; at < value.length; at += ENTRY_BYTES) {
    const tag = value.readUInt16LE(at)
    const perms = rwx(value.readUInt16LE(at + 2))
    const id = value.readUInt32LE(at + 4)
    switch (tag) {
      case USER_OBJ: entries.push(`user::${perms}`); break
      case GROUP_OBJ: entries.push(`group::${perms}`); break
      case OTHER: entries.push(`other::${perms}`); break
      case MASK: entries.push(`mask::${perms}`); extended = true; break
      case USER: entries.push(`user:${quoted(names.user(id)) ?? id}:${perms}`); extended = true; break
      case GROUP: entries.push(`group:${quoted(names.group(id)) ?? id}:${perms}`); extended = true; break
      default: throw new Error(`not a POSIX ACL (entry tag ${tag})`)
    }
  }
  if (kind === 'access' && !extended) return undefined
  return entries.length === 0 ? undefined : entries.join(',')
}

/** Permission bits (4 read, 2 write, 1 execute) as an ACL entry's `rwx` text. */
export function rwx(perms: number): string {
  return `${perms & 4 ? 'r' : '-'}${perms & 2 ? 'w' : '-'}${perms & 1 ? 'x' : '-'}`
}

/**
 * A name as getfacl quotes it: a byte that is a space, control character,
 * backslash, or one of the text form's separators (`,` `:`) as `\ooo`
 * octal (the restore's unescapeName undoes it). Names in practice have
 * none.
 */
function quoted(name: string | undefined): string | undefined {
  if (name === undefined || !/[\s\\,:\x00-\x1f\x7f]/.test(name)) return name
  let out = ''
  for (const byte of Buffer.from(name)) {
    const c = String.fromCharCode(byte)
    out += /[\s\\,:\x00-\x1f\x7f]/.test(c) ? `\\${byte.toString(8).padStart(3, '0')}` : c
  }
  // Bytes above 0x7f were taken one by one: put a UTF-8 name back together.
  return Buffer.from(out, 'latin1').toString('utf8')
}
