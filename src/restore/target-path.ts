import { pathBytes, type FsPath } from '../protocol/path-codec.js'

/**
 * An entry whose path, or what is on disk along it, would take the restore
 * outside its target or through a symbolic link. The entry is refused
 * (an error record); nothing is created for it.
 */
export class BoundaryError extends Error {
  override name = 'BoundaryError'
}

/** Longest name of one path component Linux allows. */
const NAME_MAX = 255
const SLASH = 0x2f
const DOT = 0x2e

/**
 * The components of an entry's path, below the target: `/etc/ssh/x` gives
 * `etc`, `ssh`, `x`; `/` gives none (the target itself). The path must be
 * absolute and normal: no empty component (`//`, a trailing `/`), no `.`
 * or `..`, no component longer than 255 bytes (NUL was refused when the
 * path was decoded). Anything else throws BoundaryError: a restore never
 * guesses what a crafted or damaged path meant.
 */
export function pathComponents(path: FsPath): Buffer[] {
  const bytes = pathBytes(path)
  if (bytes[0] !== SLASH) throw new BoundaryError('path is not absolute')
  if (bytes.length === 1) return []
  const parts: Buffer[] = []
  let start = 1
  for (;;) {
    let end = bytes.indexOf(SLASH, start)
    if (end < 0) end = bytes.length
    const part = bytes.subarray(start, end)
    if (part.length === 0) throw new BoundaryError('path has an empty component ("//" or a trailing "/")')
    if (part[0] === DOT && (part.length === 1 || (part.length === 2 && part[1] === DOT))) {
      throw new BoundaryError(`path has a "${part.toString('latin1')}" component`)
    }
    if (part.length > NAME_MAX) throw new BoundaryError(`path has a component longer than ${NAME_MAX} bytes`)
    parts.push(part)
    if (end === bytes.length) return parts
    start = end + 1
  }
}

/** A map key for a list of components (their bytes joined by `/`, one char per byte). */
export function componentsKey(parts: readonly Buffer[]): string {
  let key = ''
  for (const part of parts) key += '/' + part.toString('latin1')
  return key
}

/** The absolute path of components below `root` (a directory path), for messages and `to` fields. */
export function joinUnder(root: string, parts: readonly Buffer[]): Buffer {
  const prefix = Buffer.from(root === '/' ? '' : root)
  const pieces: Buffer[] = [prefix]
  for (const part of parts) pieces.push(SLASH_BUFFER, part)
  if (parts.length === 0) pieces.push(root === '/' ? SLASH_BUFFER : Buffer.alloc(0))
  return Buffer.concat(pieces)
}

const SLASH_BUFFER = Buffer.from('/')
