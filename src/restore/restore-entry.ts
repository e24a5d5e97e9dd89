import { decodePath, decodePathField, PathFieldError, type FsPath } from '../protocol/path-codec.js'
import type { Rec } from '../protocol/records.js'
import { modeBits } from './entry-metadata.js'
import type { ContentRef } from './fetch-content.js'
import { pathComponents } from './target-path.js'

/** An entry record a restore cannot use; the message says what is wrong with it. */
export class EntryError extends Error {
  override name = 'EntryError'
  constructor(message: string, readonly path?: FsPath) {
    super(message)
  }
}

interface EntryBase {
  path: FsPath
  /** Components below the target (none for `/`). */
  parts: Buffer[]
  mode: number
  uid: number
  gid: number
  user?: string
  group?: string
  mtimeNs: bigint
  acl?: string
  defaultAcl?: string
  /** Extended attributes: name and value in base64, as sysbackup-pick records them. */
  xattrs?: [name: string, valueB64: string][]
}

export interface FileEntry extends EntryBase {
  type: 'file'
  size: number
  /** Bytes of the content that was stored: `readSize` when the hash stage gave it, else `size`. */
  contentSize: number
  /** Absent when the backup could not store the content (no `key`). */
  content?: ContentRef
  storageId?: string
  nlink: number
}
export interface DirEntry extends EntryBase { type: 'dir' }
export interface SymlinkEntry extends EntryBase { type: 'symlink', target: FsPath }
export interface SpecialEntry extends EntryBase { type: 'special', kind: 'fifo' | 'socket' | 'char' | 'block', rdev: number }

export type RestoreEntry = FileEntry | DirEntry | SymlinkEntry | SpecialEntry

const CONTENT_KEY = /^content\/([0-9a-f]{64})$/
const KINDS = new Set(['fifo', 'socket', 'char', 'block'])

/**
 * The entry a manifest record describes, checked field by field. Throws
 * EntryError naming the first problem (and the path, when it could be
 * read): a path that is not absolute and normal, a mode that is not 4
 * octal digits, ids or times that are not numbers, a file without a
 * content key (its content was not stored) or with a key that is not
 * `content/<sha256>`, a sha256 that disagrees with the key, extended
 * attributes that are not names to base64 values.
 */
export function parseEntry(rec: Rec): RestoreEntry {
  let path: FsPath
  try {
    path = decodePath(rec)
  } catch (err) {
    if (err instanceof PathFieldError) throw new EntryError(err.message)
    throw err
  }
  const fail = (message: string): never => { throw new EntryError(message, path) }
  let parts: Buffer[]
  try {
    parts = pathComponents(path)
  } catch (err) {
    return fail((err as Error).message)
  }
  if (typeof rec.mode !== 'string' || !/^[0-7]{4}$/.test(rec.mode)) fail('"mode" is not 4 octal digits')
  for (const field of ['uid', 'gid'] as const) {
    if (!Number.isSafeInteger(rec[field]) || (rec[field] as number) < 0 || (rec[field] as number) > 0xfffffffe) fail(`"${field}" is not a valid id`)
  }
  if (typeof rec.mtimeNs !== 'string' || !/^-?\d{1,20}$/.test(rec.mtimeNs)) fail('"mtimeNs" is not a decimal string of nanoseconds')
  const base: EntryBase = {
    path, parts,
    mode: modeBits(rec.mode as string),
    uid: rec.uid as number,
    gid: rec.gid as number,
    mtimeNs: BigInt(rec.mtimeNs as string),
  }
  if (typeof rec.user === 'string' && rec.user !== '') base.user = rec.user
  if (typeof rec.group === 'string' && rec.group !== '') base.group = rec.group
  if (rec.acl !== undefined) {
    if (typeof rec.acl !== 'string' || rec.acl === '') fail('"acl" is not ACL text')
    base.acl = rec.acl as string
  }
  if (rec.defaultAcl !== undefined) {
    if (typeof rec.defaultAcl !== 'string' || rec.defaultAcl === '') fail('"defaultAcl" is not ACL text')
    if (rec.type !== 'dir') fail('only a directory has a default ACL')
    base.defaultAcl = rec.defaultAcl as string
  }
  if (rec.xattrs !== undefined) base.xattrs = parseXattrs(rec.xattrs, fail)
  switch (rec.type) {
    case 'dir':
      return become<DirEntry>(base, { type: 'dir' })
    case 'symlink': {
      let target: FsPath
      try {
        target = decodePathField(rec, 'target')
      } catch (err) {
        return fail((err as Error).message)
      }
      return become<SymlinkEntry>(base, { type: 'symlink', target })
    }
    case 'special': {
      if (typeof rec.kind !== 'string' || !KINDS.has(rec.kind)) fail('"kind" is not fifo, socket, char or block')
      const kind = rec.kind as SpecialEntry['kind']
      const rdev = rec.rdev ?? 0
      if ((kind === 'char' || kind === 'block') && rec.rdev === undefined) fail(`a ${kind} device has no "rdev"`)
      if (!Number.isSafeInteger(rdev) || (rdev as number) < 0) fail('"rdev" is not a device number')
      return become<SpecialEntry>(base, { type: 'special', kind, rdev: rdev as number })
    }
    case 'file': {
      if (!Number.isSafeInteger(rec.size) || (rec.size as number) < 0) fail('"size" is not a non-negative integer')
      const nlink = Number.isSafeInteger(rec.nlink) && (rec.nlink as number) > 0 ? rec.nlink as number : 1
      const size = rec.size as number
      const contentSize = Number.isSafeInteger(rec.readSize) && (rec.readSize as number) >= 0 ? rec.readSize as number : size
      const file = become<FileEntry>(base, { type: 'file', size, contentSize, nlink })
      if (typeof rec.storageId === 'string' && rec.storageId !== '') file.storageId = rec.storageId
      if (rec.key !== undefined) {
        const m = typeof rec.key === 'string' ? CONTENT_KEY.exec(rec.key) : null
        if (!m) return fail(`"key" ${JSON.stringify(rec.key)} is not content/<sha256>`)
        if (rec.sha256 !== undefined && rec.sha256 !== m[1]) fail(`"sha256" ${String(rec.sha256)} disagrees with the key ${rec.key as string}`)
        if (rec.versionId !== undefined && (typeof rec.versionId !== 'string' || rec.versionId === '')) fail('"versionId" is not a string')
        file.content = { key: rec.key as string, sha256: m[1]! }
        if (typeof rec.versionId === 'string') file.content.versionId = rec.versionId
      }
      return file
    }
    default:
      return fail(`"${rec.type}" is not an entry type`)
  }
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/

/** The `xattrs` field: an object of names (`namespace.name`, no NUL) to base64 values. */
function parseXattrs(field: unknown, fail: (message: string) => never): [string, string][] {
  if (typeof field !== 'object' || field === null || Array.isArray(field)) return fail('"xattrs" is not an object of names to base64 values')
  const xattrs: [string, string][] = []
  for (const [name, value] of Object.entries(field as Record<string, unknown>)) {
    if (!/^[a-z]+\.[^\0]+$/.test(name)) fail(`"xattrs": ${JSON.stringify(name)} is not an extended attribute name`)
    if (typeof value !== 'string' || !BASE64.test(value)) fail(`"xattrs": the value of ${name} is not base64`)
    xattrs.push([name, value as string])
  }
  return xattrs
}

/**
 * `base` made into an entry of its type with `fields`, in place. Not an
 * object spread: V8 copies a spread of these objects through its slow path,
 * ~13 µs per entry, which was most of what parsing a manifest cost.
 */
function become<E extends RestoreEntry>(base: EntryBase, fields: Omit<E, keyof EntryBase>): E {
  return Object.assign(base, fields) as E
}
