import { constants, type BigIntStats } from 'node:fs'
import { isUtf8 } from 'node:buffer'
import { encodePathField } from '../../protocol/path-codec.js'
import type { EntryRecord, EntryType, SpecialRecord } from '../../protocol/records.js'
import type { OwnerNames } from './owner-names.js'

const { S_IFMT, S_IFREG, S_IFDIR, S_IFLNK, S_IFIFO, S_IFSOCK, S_IFCHR, S_IFBLK } = constants

/** The record type and, for `special`, the kind, of an lstat mode; null for a type we do not know. */
export function entryTypeOf(mode: number): { type: EntryType, kind?: SpecialRecord['kind'] } | null {
  switch (mode & S_IFMT) {
    case S_IFREG: return { type: 'file' }
    case S_IFDIR: return { type: 'dir' }
    case S_IFLNK: return { type: 'symlink' }
    case S_IFIFO: return { type: 'special', kind: 'fifo' }
    case S_IFSOCK: return { type: 'special', kind: 'socket' }
    case S_IFCHR: return { type: 'special', kind: 'char' }
    case S_IFBLK: return { type: 'special', kind: 'block' }
    default: return null
  }
}

/** Permission bits with setuid, setgid and sticky, as 4 octal digits ("4755"). */
export function modeString(mode: number): string {
  const bits = mode & 0o7777
  // A machine has a handful of distinct modes: make each string once.
  return (MODE_STRINGS[bits] ??= bits.toString(8).padStart(4, '0'))
}

const MODE_STRINGS: (string | undefined)[] = []

/**
 * The entry record of the object at `path`, from its lstat (bigint, so
 * times keep their nanoseconds and inodes their 64 bits). `target` is the
 * raw link target, required for a symlink. Throws for a file type the
 * protocol has no record for.
 */
export function describeEntry(path: Buffer, st: BigIntStats, names: OwnerNames, target?: Buffer): EntryRecord {
  const mode = Number(st.mode)
  const what = entryTypeOf(mode)
  if (what === null) throw new Error(`unknown file type (mode ${mode.toString(8)})`)
  const uid = Number(st.uid)
  const gid = Number(st.gid)
  const rec = { type: what.type } as EntryRecord
  if (isUtf8(path)) rec.path = path.toString('utf8')
  else rec.pathB64 = path.toString('base64')
  rec.mode = modeString(mode)
  rec.uid = uid
  rec.gid = gid
  const user = names.user(uid)
  if (user !== undefined) rec.user = user
  const group = names.group(gid)
  if (group !== undefined) rec.group = group
  if (rec.type === 'file') rec.size = Number(st.size)
  rec.mtimeNs = st.mtimeNs.toString()
  rec.ctimeNs = st.ctimeNs.toString()
  rec.storageId = devicePrefix(st.dev) + st.ino.toString()
  rec.nlink = Number(st.nlink)
  if (rec.type === 'symlink') {
    if (target === undefined) throw new Error('symlink described without its target')
    Object.assign(rec, encodePathField('target', target))
  } else if (rec.type === 'special') {
    rec.kind = what.kind!
    if (rec.kind === 'char' || rec.kind === 'block') rec.rdev = Number(st.rdev)
  }
  return rec
}

let lastDev = -1n
let lastDevPrefix = ''

/** `<dev>:` for a storageId; nearly every entry is on the same device as the one before. */
function devicePrefix(dev: bigint): string {
  if (dev !== lastDev) {
    lastDev = dev
    lastDevPrefix = `${dev}:`
  }
  return lastDevPrefix
}
